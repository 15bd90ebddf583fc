"""The SAML 2.0 identity provider frontend (entry point ``saml_idp``).

Service providers are registered by their metadata (:mod:`.providers`); requests are
validated in :mod:`.sso`; attributes are named per service kind in :mod:`.attributes`.
"""

from broker.frontends.saml_idp.frontend import SamlIdpFrontend

__all__ = ["SamlIdpFrontend"]
