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
from broker.register.lookup import UsableMandate
from broker.register.lookup import usable_named
from broker.register.service import Limits
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
        session = self._context.session()
        authorisation = _chain_authorisation(session, identity, organisation.id, service, now)
        if authorisation is None:
            return []
        depth = Limits(**self._context.settings.register).chain_depth
        start = (_link(authorisation, "company"),)
        return [Option(links=links, source=self.name)
                for links in _walk(session, service, now, start, {authorisation.represented_id},
                                   authorisation.represented_id, depth)]


def _chain_authorisation(session: Session, identity: Identity, kvk: str, service: Service,
                         now: datetime) -> UsableMandate | None:
    """The employee's company mandate from ``kvk`` that allows chains, at the login's level.
    The clients of ``kvk`` (asked for next when there is one) come in the same statement."""
    for mandate in usable_named(session, "pseudonym", identity.acting.id, service.uuid,
                                ("company",), now, represented_type="kvk",
                                also=(("kvk", kvk),)):
        if (mandate.represented_type == "kvk" and mandate.represented_id == kvk
                and (mandate.extra or {}).get("chain") is True
                and loa.meets(identity.loa, mandate.loa or service.min_loa)):
            return mandate
    return None


def _walk(session: Session, service: Service, now: datetime, path: tuple[Link, ...],
          seen: set[str], last: str, depth: int) -> list[tuple[Link, ...]]:
    """Paths to every client of ``last`` (the path's last party, a KvK number), then to their
    clients, to ``depth``; ``seen``: the KvK numbers on the path, which no path visits twice."""
    paths = []
    for mandate in usable_named(session, "kvk", last, service.uuid, ("chain",), now,
                                represented_type="kvk"):
        client = mandate.represented_id
        if mandate.represented_type != "kvk" or client in seen:
            continue
        longer = (*path, _link(mandate, "chain"))
        paths.append(longer)
        if depth > 1:
            paths.extend(_walk(session, service, now, longer, seen | {client}, client,
                               depth - 1))
    return paths


def _link(mandate: UsableMandate, kind: str) -> Link:
    """The employee's organisation (by its company mandate, ``kind`` "company") or a client
    (by its chain mandate, "chain"), named from the trade register."""
    return Link(party=Party(id=mandate.represented_id, id_type="kvk", name=mandate.name),
                mandate_id=mandate.id, kind=kind, services=tuple(mandate.services))
