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

from sqlalchemy.orm import Session

from broker import loa
from broker.context import BrokerContext
from broker.identity import Identity
from broker.identity import Link
from broker.identity import Party
from broker.pipeline import Option
from broker.register.models import Mandate
from broker.register.service import Limits
from broker.register.service import usable_named
from broker.services import Service

#: one step of a path: the mandate that reaches a party (a KvK number), and the party's name
_Step = tuple[Mandate, str | None]


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
        session = self._context.session()
        authorisation = _chain_authorisation(session, identity, organisation.id, service, now)
        if authorisation is None:
            return []
        depth = Limits(**self._context.settings.register).chain_depth
        return [Option(links=tuple(_link(step, n) for n, step in enumerate(path)),
                       source=self.name)
                for path in _walk(session, service, now, (authorisation,), depth)]


def _chain_authorisation(session: Session, identity: Identity, kvk: str, service: Service,
                         now: datetime) -> _Step | None:
    """The employee's company mandate from ``kvk`` that allows chains, at the login's level."""
    for mandate, name in usable_named(session, "pseudonym", identity.acting.id, service.uuid,
                                      ("company",), now, represented_type="kvk"):
        if (mandate.represented_type == "kvk" and mandate.represented_id == kvk
                and (mandate.extra or {}).get("chain") is True
                and loa.meets(identity.loa, mandate.loa or service.min_loa)):
            return mandate, name
    return None


def _walk(session: Session, service: Service, now: datetime, path: tuple[_Step, ...],
          depth: int) -> list[tuple[_Step, ...]]:
    """Paths to every client of the path's last party, then to their clients, to ``depth``."""
    seen = {mandate.represented_id for mandate, _ in path}
    paths = []
    for mandate, name in usable_named(session, "kvk", path[-1][0].represented_id, service.uuid,
                                      ("chain",), now, represented_type="kvk"):
        if mandate.represented_type != "kvk" or mandate.represented_id in seen:
            continue
        longer = (*path, (mandate, name))
        paths.append(longer)
        if depth > 1:
            paths.extend(_walk(session, service, now, longer, depth - 1))
    return paths


def _link(step: _Step, position: int) -> Link:
    """The employee's organisation (by its company mandate) first, then each client."""
    mandate, name = step
    return Link(party=Party(id=mandate.represented_id, id_type="kvk", name=name),
                mandate_id=mandate.id, kind="company" if position == 0 else "chain",
                services=tuple(mandate.services))
