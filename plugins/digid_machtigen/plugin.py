"""Options from voluntary mandates (DigiD Machtigen) in the broker's register."""

from __future__ import annotations

from datetime import datetime

from broker.context import BrokerContext
from broker.identity import Identity
from broker.pipeline import Option
from broker.register.lookup import usable_named
from broker.services import Service
from plugins.citizen_register import citizen_options


class DigidMachtigenPlugin:
    """A citizen may act for another citizen who mandated them, for the mandated services."""

    def __init__(self, *, name: str, context: BrokerContext) -> None:
        self.name = name
        self._context = context

    def options(self, identity: Identity, service: Service, now: datetime) -> list[Option]:
        if identity.acting.id_type != "bsn" or "voluntary" not in service.accepts:
            return []
        mandates = usable_named(self._context.session(), "bsn", identity.acting.id,
                                service.uuid, ("voluntary",), now, represented_type="bsn")
        return citizen_options(mandates, self.name)
