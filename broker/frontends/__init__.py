"""Frontends: downstream, what relying parties call (OpenID Connect, SAML IdP).

A frontend is found through the ``broker.frontends`` entry-point group and built as
``factory(name=..., context=..., **options)`` from its ``[frontends.<name>]`` config table;
what it must offer is :class:`broker.components.Frontend`. It validates the relying party's
request, then calls :func:`broker.web.continuations.begin` to start a flow.
"""
