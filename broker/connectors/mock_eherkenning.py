"""The connector to mock eHerkenning: the :class:`EherkenningConnector` with its IdP metadata
from the in-process mock (no HTTP). Refused unless ``broker.allow_mock_connectors`` is true."""

from __future__ import annotations

from broker.connectors.eherkenning import EherkenningConnector
from broker.context import BrokerContext
from broker.saml import mock_idps


class MockEherkenningConnector(EherkenningConnector):
    is_mock: bool = True

    def __init__(self, *, name: str, context: BrokerContext, label: str = "eHerkenning",
                 via: str = "eherkenning", sign_requests: bool = True) -> None:
        super().__init__(name=name, context=context, label=label, via=via,
                         metadata="in-process:mock-eherkenning", sign_requests=sign_requests)

    def _idp_metadata(self, source: str | None) -> bytes:
        return mock_idps.idp_metadata(self.context, mock_idps.EHERKENNING)
