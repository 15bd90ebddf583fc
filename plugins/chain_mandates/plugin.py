"""Options from chain mandates (ketenmachtigingen) in the broker's register.

An employee logged in with eHerkenning for organisation O may act for a client C when O
authorised the employee for the service with the chain option (a company mandate with
``extra["chain"]``) and C gave O a chain mandate for the service, directly or through up to
``chain_depth`` intermediaries. Every link must be active and valid now; one revoked link stops
the whole chain. The option's links run from the employee's organisation to the client:
``(Link(O, "company"), Link(..., "chain"), ..., Link(C, "chain"))``.
"""

from __future__ import annotations

from datetime import datetime

from broker import loa
from broker.context import BrokerContext
from broker.identity import Identity
from broker.identity import Link
from broker.identity import Party
from broker.pipeline import Option
from broker.register.models import Mandate
from broker.register.models import Organisation
from broker.register.service import Limits
from broker.register.service import Register
from broker.services import Service


class ChainMandatesPlugin:
    """Offers every client reachable through the employee's organisation's chain mandates."""

    def __init__(self, *, name: str, context: BrokerContext) -> None:
        self.name = name
        self._context = context

    def options(self, identity: Identity, service: Service, now: datetime) -> list[Option]:
        organisation = identity.organisation
        if (organisation is None or organisation.id_type != "kvk"
                or identity.acting.id_type != "pseudonym" or "chain" not in service.accepts):
            return []
        register = self._context.register(clock=lambda: now)
        authorisation = self._chain_authorisation(register, identity, organisation.id, service)
        if authorisation is None:
            return []
        start = Link(party=self._party(organisation.id), mandate_id=authorisation.id,
                     kind="company", services=tuple(authorisation.services))
        depth = Limits(**self._context.settings.register).chain_depth
        return self._walk(register, service, (start,), depth)

    def _chain_authorisation(self, register: Register, identity: Identity, kvk: str,
                             service: Service) -> Mandate | None:
        """The employee's company mandate from ``kvk`` that allows chains, at the login's level."""
        for mandate in register.usable("pseudonym", identity.acting.id, service.uuid, ("company",)):
            if (mandate.represented_type == "kvk" and mandate.represented_id == kvk
                    and (mandate.extra or {}).get("chain") is True
                    and loa.meets(identity.loa, mandate.loa or service.min_loa)):
                return mandate
        return None

    def _walk(self, register: Register, service: Service, path: tuple[Link, ...],
              depth: int) -> list[Option]:
        """Options for every client of the path's last party, then their clients, to ``depth``."""
        seen = {link.party.id for link in path}
        options = []
        for mandate in register.usable("kvk", path[-1].party.id, service.uuid, ("chain",)):
            if mandate.represented_type != "kvk" or mandate.represented_id in seen:
                continue
            link = Link(party=self._party(mandate.represented_id), mandate_id=mandate.id,
                        kind="chain", services=tuple(mandate.services))
            options.append(Option(links=(*path, link), source=self.name))
            if depth > 1:
                options.extend(self._walk(register, service, (*path, link), depth - 1))
        return options

    def _party(self, kvk: str) -> Party:
        organisation = self._context.session().get(Organisation, kvk)
        return Party(id=kvk, id_type="kvk", name=organisation.name if organisation else None)
