"""The service catalogue: what a relying party can ask for, and what each service demands."""

from __future__ import annotations

import re
from dataclasses import dataclass

from broker import loa
from broker.errors import UnknownServiceError

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
SCOPE_PREFIX = "urn:uuid:"


@dataclass(frozen=True, slots=True, kw_only=True)
class Service:
    """One entry of the catalogue."""

    uuid: str
    name: str
    via: str  #: "digid" | "eherkenning": the kind of login the service expects
    min_loa: str  #: normalised level, see :mod:`broker.loa`
    #: representation kinds it accepts, e.g. ("voluntary", "legal:bewind", "company", "chain")
    accepts: tuple[str, ...] = ()
    #: whether a person may log in for themself (citizen services) or must represent a party
    allows_self: bool = True

    def __post_init__(self) -> None:
        if not is_service_uuid(self.uuid):
            raise ValueError(f"not a lowercase UUID: {self.uuid!r}")
        if not loa.is_level(self.min_loa):
            raise ValueError(f"unknown level of assurance {self.min_loa!r}")

    @property
    def scope(self) -> str:
        """The OIDC scope that asks for this service (NL GOV: ``urn:uuid:<ServiceUUID>``)."""
        return SCOPE_PREFIX + self.uuid


def is_service_uuid(value: str) -> bool:
    return bool(_UUID.match(value))


class ServiceCatalogue:
    """An immutable lookup of services by ServiceUUID."""

    def __init__(self, services: list[Service]) -> None:
        self._by_uuid = {service.uuid: service for service in services}

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(sorted(self._by_uuid.values(), key=lambda s: s.name))

    def __len__(self) -> int:
        return len(self._by_uuid)

    def get(self, uuid: str) -> Service:
        try:
            return self._by_uuid[uuid.lower()]
        except KeyError:
            raise UnknownServiceError(f"unknown ServiceUUID {uuid!r}") from None

    def from_scope(self, scope: str) -> Service | None:
        """The single service named among OIDC scopes, None if none; error if several."""
        uuids = [s[len(SCOPE_PREFIX):] for s in scope.split() if s.startswith(SCOPE_PREFIX)]
        if not uuids:
            return None
        if len(uuids) > 1:
            raise UnknownServiceError("more than one service scope requested")
        return self.get(uuids[0])


#: The mandate portal asks for this pseudo-service; it is not in the catalogue relying parties see.
PORTAL_SERVICE = Service(uuid="5d6e1d3c-8f43-5f0a-9a51-2c3f5a0b7e11", name="Machtigingenportaal",
                         via="digid", min_loa="low", accepts=(), allows_self=True)
#: The organisation portal asks for this pseudo-service; relying parties never see it. The mock
#: eHerkenning lets every employee of an organisation log in for it (no authorisation needed).
ORG_PORTAL_SERVICE = Service(
    uuid="8f0c6b2e-4a1d-5e3f-9b7c-2d4e6f8a0c13", name="Machtigingenportaal voor organisaties",
    via="eherkenning", min_loa="substantial", accepts=(), allows_self=True)
