"""Who authenticated, how, and on whose behalf: the broker's normalised login.

Every connector turns its upstream answer into an :class:`Identity`; every frontend turns an
:class:`Identity` into its wire format. Nothing here knows about Flask, SAML or OIDC.

"Who acts" (:attr:`Identity.acting`) is kept apart from "for whom" (:attr:`Identity.represents`):
an empty ``represents`` means the person acts for themself; otherwise the last link names the
final represented party and any links before it are intermediaries (a chain mandate).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from datetime import datetime
from types import MappingProxyType
from typing import Any

#: Identifier types a party can carry.
ID_TYPES = frozenset({"bsn", "kvk", "rsin", "pseudonym"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Party:
    """A natural person (BSN, pseudonym) or an organisation (KvK number, RSIN)."""

    id: str
    id_type: str
    name: str | None = None

    def __post_init__(self) -> None:
        if self.id_type not in ID_TYPES:
            raise ValueError(f"unknown party id_type {self.id_type!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "id_type": self.id_type, "name": self.name}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Party:
        return cls(id=data["id"], id_type=data["id_type"], name=data.get("name"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    """One step of representation, with the mandate that backs it."""

    party: Party
    mandate_id: str
    kind: str  #: "voluntary" | "legal" | "company" | "chain"
    role: str | None = None  #: e.g. "bewindvoerder" for legal representation
    services: tuple[str, ...] = ()  #: ServiceUUIDs the mandate covers

    def to_dict(self) -> dict[str, Any]:
        return {
            "party": self.party.to_dict(),
            "mandate_id": self.mandate_id,
            "kind": self.kind,
            "role": self.role,
            "services": list(self.services),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Link:
        return cls(
            party=Party.from_dict(data["party"]),
            mandate_id=data["mandate_id"],
            kind=data["kind"],
            role=data.get("role"),
            services=tuple(data.get("services", ())),
        )


def _frozen_attributes(
    attributes: Mapping[str, tuple[str, ...]],
) -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({key: tuple(values) for key, values in attributes.items()})


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """The outcome of authentication, and after the choice, of representation."""

    acting: Party  #: the person at the keyboard
    loa: str  #: normalised level, see :mod:`broker.loa`
    connector: str  #: config name of the connector that authenticated the person
    authn_instant: datetime  #: timezone-aware, when the upstream authenticated the person
    organisation: Party | None = None  #: eHerkenning: the employer logged in for
    upstream_issuer: str | None = None  #: entity id of the upstream identity provider
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    represents: tuple[Link, ...] = ()  #: empty = for self; last = final represented party

    def __post_init__(self) -> None:
        if self.authn_instant.tzinfo is None:
            raise ValueError("authn_instant must be timezone-aware")
        object.__setattr__(self, "attributes", _frozen_attributes(self.attributes))

    @property
    def represented(self) -> Party | None:
        """The final represented party, or None when acting for self."""
        return self.represents[-1].party if self.represents else None

    def acting_for(self, *links: Link) -> Identity:
        """A copy that acts through ``links`` (intermediaries first, final party last)."""
        return replace(self, represents=tuple(links))

    def to_dict(self) -> dict[str, Any]:
        return {
            "acting": self.acting.to_dict(),
            "loa": self.loa,
            "connector": self.connector,
            "authn_instant": self.authn_instant.isoformat(),
            "organisation": self.organisation.to_dict() if self.organisation else None,
            "upstream_issuer": self.upstream_issuer,
            "attributes": {key: list(values) for key, values in self.attributes.items()},
            "represents": [link.to_dict() for link in self.represents],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Identity:
        organisation = data.get("organisation")
        return cls(
            acting=Party.from_dict(data["acting"]),
            loa=data["loa"],
            connector=data["connector"],
            authn_instant=datetime.fromisoformat(data["authn_instant"]),
            organisation=Party.from_dict(organisation) if organisation else None,
            upstream_issuer=data.get("upstream_issuer"),
            attributes={key: tuple(values) for key, values in data["attributes"].items()},
            represents=tuple(Link.from_dict(link) for link in data.get("represents", ())),
        )
