"""What every connector and frontend is built with: settings, state, flows, keys, the clock.

Plain Python: a :class:`BrokerContext` can be built in a test without an app.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from broker import keys
from broker.clock import utcnow
from broker.config import Settings
from broker.config_cache import UNCACHED
from broker.config_cache import ConfigCache
from broker.db import ServiceRecord
from broker.flow import Flows
from broker.register.service import Limits
from broker.register.service import Register
from broker.services import Service
from broker.services import ServiceCatalogue
from broker.state import StateStore

if TYPE_CHECKING:
    from broker.flow import Flow
    from broker.identity import Identity


@dataclass(frozen=True, slots=True)
class Continuation:
    """Where the browser goes next: a GET redirect or an auto-submitted POST form.

    Frontends answer relying parties with one; the web layer renders it. This keeps protocol
    code free of templates and lets an error page offer the same answer behind a button.
    """

    method: str  #: "GET" | "POST"
    url: str
    fields: dict[str, str] = field(default_factory=dict)


class LoginCallbacks(Protocol):
    """What a connector calls back with once the upstream answered (the login's steps, see
    :mod:`broker.login`, as the running app wires them: :attr:`BrokerContext.login`)."""

    def claimed(self, flow: Flow) -> AbstractContextManager[None]:
        """Inside the block the request belongs to ``flow`` (a genuine answer to it): an error
        raised there is answered to its relying party, not on a page alone."""
        ...

    def authenticated(self, flow: Flow, identity: Identity, *,
                      mark: tuple[str, int] | None = None) -> Any:
        """Record the verified ``identity`` for ``flow`` (``mark``: the assertion's replay
        mark); what the connector's view answers the browser (on to the broker's next step)."""
        ...


class _Unwired:
    """The callbacks of a context built without an app (tests of one part): none."""

    def claimed(self, flow: Flow) -> AbstractContextManager[None]:
        raise RuntimeError("no login is wired to this context")

    def authenticated(self, flow: Flow, identity: Identity, *,
                      mark: tuple[str, int] | None = None) -> Any:
        raise RuntimeError("no login is wired to this context")


@dataclass(eq=False)
class BrokerContext:
    settings: Settings
    store: StateStore
    flows: Flows
    session: Callable[[], Session]
    clock: Callable[[], datetime] = utcnow
    #: services, clients and service providers read from the database (off unless given)
    config: ConfigCache = UNCACHED
    #: services of the broker's own pages (the portals), not offered to relying parties
    internal_services: dict[str, Service] = field(default_factory=dict)
    #: what connectors call back with; wired by the app once the login's steps are built
    login: LoginCallbacks = field(default_factory=_Unwired)
    _keys: dict[str, keys.KeyPair] = field(default_factory=dict)

    def url(self, path: str) -> str:
        """An absolute URL on this broker for ``path`` (which starts with a slash)."""
        return self.settings.base_url + path

    def key(self, name: str, algorithm: str = "rsa") -> keys.KeyPair:
        """The named key pair from the instance folder, created on first use, parsed once."""
        if name not in self._keys:
            self._keys[name] = keys.load_or_create(
                self.settings.keys_path, name, algorithm=algorithm, common_name=name)
        return self._keys[name]

    def register(self, clock: Callable[[], datetime] | None = None) -> Register:
        """The mandate register on this request's session, with the configured limits."""
        return Register(self.session(), self.catalogue(), clock=clock or self.clock,
                        limits=Limits(**self.settings.register), counters=self.store)

    def service(self, uuid: str) -> Service:
        """A catalogue service, or one of the broker's internal ones."""
        return self.internal_services.get(uuid) or self.catalogue().get(uuid)

    def catalogue(self) -> ServiceCatalogue:
        """The services, from the configuration cache (see :mod:`broker.config_cache`)."""
        catalogue = self.config.get(_CATALOGUE, self._read_catalogue)
        assert catalogue is not None
        return catalogue

    def _read_catalogue(self) -> ServiceCatalogue:
        rows = self.session().execute(select(ServiceRecord)).scalars()
        return ServiceCatalogue([service_from_record(row) for row in rows])


_CATALOGUE = "catalogue"


def service_from_record(row: ServiceRecord) -> Service:
    return Service(uuid=row.uuid, name=row.name, via=row.via, min_loa=row.min_loa,
                   accepts=tuple(row.accepts or ()), allows_self=bool(row.allows_self))


def options_without(options: dict[str, Any], *names: str) -> dict[str, Any]:
    return {key: value for key, value in options.items() if key not in names}
