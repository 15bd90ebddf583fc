"""Mandate plugins and the options they offer: "on whose behalf may this person log in?"

A plugin is found through the ``broker.plugins`` entry-point group, built as
``factory(name=..., context=..., **options)`` from its ``[plugins.<name>]`` table, and answers
one question (:meth:`MandateSource.options`). The core gathers every enabled plugin's answer,
removes duplicates, asks the person, and puts the chosen option's links on the identity.

While :func:`gather` runs, the plugins' register look-ups can share what they read
(:func:`lookup_memo`): the voluntary and the legal plugin, for one, both need the same person's
mandates, and read them in one statement without knowing of each other.
"""

from __future__ import annotations

from collections.abc import Hashable
from collections.abc import Iterable
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from typing import Protocol

from broker.identity import Identity
from broker.identity import Link
from broker.services import Service

#: what the sources of the running :func:`gather` have read, by key; None outside a gather
_LOOKUP: ContextVar[dict[Hashable, Any] | None] = ContextVar("broker_lookup", default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Option:
    """One party the person may act for, with the chain of links that allows it."""

    links: tuple[Link, ...]  #: intermediaries first, the represented party last
    source: str  #: the plugin that offered it

    @property
    def key(self) -> str:
        """Stable identity of the option: the parties along the chain."""
        return "/".join(f"{link.party.id_type}:{link.party.id}" for link in self.links)

    @property
    def party(self) -> Any:
        return self.links[-1].party

    def to_dict(self) -> dict[str, Any]:
        return {"links": [link.to_dict() for link in self.links], "source": self.source}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Option:
        return cls(links=tuple(Link.from_dict(link) for link in data["links"]),
                   source=data["source"])


class MandateSource(Protocol):
    name: str

    def options(self, identity: Identity, service: Service, now: datetime) -> list[Option]:
        """Every party ``identity.acting`` may act for at ``now`` for ``service``.

        Return only what is valid right now (active, in its period, covering the service, of a
        kind the service accepts). Never raise for "nothing found": return an empty list.
        Must not change anything.
        """
        ...


def gather(sources: Iterable[MandateSource], identity: Identity, service: Service,
           now: datetime) -> list[Option]:
    """All sources' options, each party chain once (first source wins), ordered by name."""
    found: dict[str, Option] = {}
    token = _LOOKUP.set({})
    try:
        for source in sources:
            for option in source.options(identity, service, now):
                found.setdefault(option.key, option)
    finally:
        _LOOKUP.reset(token)
    return [found[key] for _, key in sorted(
        ((option.party.name or "").lower(), key) for key, option in found.items())]


def lookup_memo() -> dict[Hashable, Any] | None:
    """Where the sources of the running :func:`gather` keep what they read, for each other and
    for their own later calls; None outside a gather (then keep nothing). Only for reads that
    cannot change during the lookup (it writes nothing); a key must name all that its value
    depends on, the session too."""
    return _LOOKUP.get()
