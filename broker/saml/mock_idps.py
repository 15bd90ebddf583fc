"""Who the mock identity providers are (entity id, signing key, where they are mounted) and
their signed metadata, built in process.

Shared by the mock IdPs themselves (:mod:`broker.mock_idp`) and by the connectors to them
(:mod:`broker.connectors.mock_digid`, :mod:`broker.connectors.mock_eherkenning`), which read
this metadata instead of fetching it over HTTP; neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from broker.context import BrokerContext
from broker.saml import metadata


@dataclass(frozen=True, slots=True, kw_only=True)
class MockIdpSpec:
    """Who a mock IdP is: its account table key, entity id, signing key and URL prefix."""

    idp: str  #: MockAccount.idp, e.g. "digid"
    label: str  #: what people call it, e.g. "DigiD"
    entity_id: str
    key_name: str
    prefix: str  #: where its blueprint is mounted, e.g. "/mock/digid"

    def sso_url(self, context: BrokerContext) -> str:
        return context.url(self.prefix + "/sso")


#: ST-SAML style entity id: the test OIN of Logius' test environment, entity index 9000.
DIGID = MockIdpSpec(idp="digid", label="DigiD",
                    entity_id="urn:nl-eid-gdi:1.0:AD:00000099000000000001:entities:9000",
                    key_name="mock-digid", prefix="/mock/digid")
#: eTD style entity id of a test herkenningsmakelaar (test OIN, entity index 9001).
EHERKENNING = MockIdpSpec(idp="eherkenning", label="eHerkenning",
                          entity_id="urn:etoegang:HM:00000099000000000003:entities:9001",
                          key_name="mock-eherkenning", prefix="/mock/eherkenning")


def idp_metadata(context: BrokerContext, spec: MockIdpSpec) -> bytes:
    """Signed metadata (validUntil a week ahead) that demands signed AuthnRequests."""
    return metadata.idp_descriptor(entity_id=spec.entity_id, key=context.key(spec.key_name),
                                   sso_url=spec.sso_url(context), want_authn_requests_signed=True)
