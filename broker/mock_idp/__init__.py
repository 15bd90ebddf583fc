"""Mock identity providers for the demo and tests: real SAML 2.0 IdPs with fake people.

:mod:`broker.mock_idp.engine` holds what every mock IdP shares (receiving and checking the
AuthnRequest, the pending-login ticket, answering the SP); :mod:`broker.mock_idp.digid` is
mock DigiD. They sign with real keys and are refused in production by the connector's
``is_mock`` flag.
"""
