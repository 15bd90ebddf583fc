"""Options from legal representation recorded by administrators from court decisions."""

from __future__ import annotations

from datetime import datetime

from broker.context import BrokerContext
from broker.identity import Identity
from broker.pipeline import Option
from broker.register.lookup import usable_named
from broker.services import Service
from plugins.citizen_register import citizen_options


class LegalRepresentationPlugin:
    """Each legal role covers only the services whose catalogue entry accepts "legal:<role>"."""

    def __init__(self, *, name: str, context: BrokerContext) -> None:
        self.name = name
        self._context = context

    def options(self, identity: Identity, service: Service, now: datetime) -> list[Option]:
        if identity.acting.id_type != "bsn":
            return []
        roles = {kind.split(":", 1)[1] for kind in service.accepts if kind.startswith("legal:")}
        if not roles:
            return []
        mandates = [m for m in usable_named(
            self._context.session(), "bsn", identity.acting.id, service.uuid, ("legal",), now,
            represented_type="bsn") if m.role in roles]
        return citizen_options(mandates, self.name)
