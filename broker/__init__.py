"""The identity broker: DigiD and eHerkenning upstream, OIDC and SAML downstream, mandates in
between. See DESIGN.md; the application factory is :func:`broker.app.create_app`.
"""
