"""The seam between the core and its components: what a connector, a frontend and a mandate
source must offer, and the component types a broker is built from.

A component type is a factory called as ``factory(name=..., context=..., **options)`` with its
config table's options. The installed types are the entry points of the ``broker.connectors``,
``broker.frontends`` and ``broker.plugins`` groups (see :mod:`broker.registry`); an
application or a test adds its own with :class:`Components` (``create_app(settings,
components=Components(connectors={"fake": FakeConnector}))``) instead of installing a package.

Each built component is checked against its Protocol when the broker starts (see
:func:`conformance`), so that a component that lacks a member fails there, named, and not at
the first login that needs it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol
from typing import runtime_checkable

from broker.context import Continuation
from broker.errors import BrokerError
from broker.flow import Flow
from broker.identity import Identity
from broker.pipeline import MandateSource

if TYPE_CHECKING:  # the web layer's types, for annotations only: the core imports no Flask
    from flask import Blueprint
    from flask.typing import ResponseReturnValue

#: ``factory(name=..., context=..., **options)`` -> a component
Factory = Callable[..., Any]


class Connector(Protocol):
    """Upstream, where the person authenticates (mock DigiD, any SAML IdP)."""

    #: instance name from config; also the URL segment under /connect/
    name: str
    #: what the person sees on the upstream choice page, e.g. "DigiD"
    label: str
    #: the kind of login: "digid" (citizens) or "eherkenning" (businesses)
    via: str
    #: mock connectors are refused unless broker.allow_mock_connectors is true
    is_mock: bool
    #: routes (ACS, SP metadata), mounted at /connect/<name>
    blueprint: Blueprint

    def start(self, flow: Flow) -> ResponseReturnValue:
        """Send the browser to the identity provider for ``flow``.

        Must call ``context.flows.upstream_started(flow, self.name, request_id)`` so that the
        answer can be tied back to the flow. The callback view, once the answer is shown to be
        genuine, claims the flow (``context.login.claimed``: errors then go to the relying
        party) and, after verifying it, answers with ``context.login.authenticated`` and the
        :class:`Identity` (see :class:`broker.context.LoginCallbacks`).
        """
        ...


@runtime_checkable
class SamlUpstream(Protocol):
    """A connector to one SAML identity provider: the SAML IdP frontend matches
    Scoping/IDPList against its ``idp_entity_id``."""

    idp_entity_id: str | None


@runtime_checkable
class SamlServiceProvider(Protocol):
    """A connector that is a SAML service provider with metadata of its own, which the demo's
    mock identity providers trust."""

    def sp_metadata(self) -> bytes:
        """Our signed SP metadata for this connector."""
        ...


class Frontend(Protocol):
    """Downstream, what relying parties call (OpenID Connect, SAML IdP, the portals).

    A frontend validates the relying party's request and starts a flow; when the flow is done
    the core calls :meth:`respond` (or :meth:`respond_error`) to answer."""

    name: str
    blueprint: Blueprint

    def respond(self, identity: Identity, flow: Flow) -> Continuation:
        """The answer that carries ``identity`` to the relying party that began ``flow``."""
        ...

    def respond_error(self, error: BrokerError, flow: Flow) -> Continuation:
        """The protocol's error answer to the (already validated) return address of ``flow``."""
        ...


@runtime_checkable
class Routed(Protocol):
    """A component with pages of its own: a plugin may have them (mounted at the root)."""

    blueprint: Blueprint


@dataclass(frozen=True, slots=True)
class Components:
    """Component types beyond the installed entry points, by group: type name -> factory.
    A type named here replaces an installed one of the same name."""

    connectors: Mapping[str, Factory] = field(default_factory=dict)
    frontends: Mapping[str, Factory] = field(default_factory=dict)
    plugins: Mapping[str, Factory] = field(default_factory=dict)


#: what a component of each group must be, and what the group calls one in a message
PROTOCOLS: Mapping[str, tuple[type, str]] = {
    "connectors": (Connector, "connector"),
    "frontends": (Frontend, "frontend"),
    "plugins": (MandateSource, "mandate source"),
}


def conformance(component: object, protocol: type) -> list[str]:
    """What ``component`` lacks of ``protocol``: each missing attribute, and each method that
    is missing, not callable, or cannot be called with the protocol's parameters. Empty when
    it conforms."""
    problems = []
    for member in _members(protocol):
        if not hasattr(component, member):
            problems.append(f"lacks {member}")
            continue
        expected = protocol.__dict__.get(member)
        if callable(expected):
            problems.extend(_call_problems(member, getattr(component, member), expected))
    return problems


def _members(protocol: type) -> list[str]:
    """The attributes and methods ``protocol`` declares (its own and its bases')."""
    members: dict[str, None] = {}
    for klass in reversed(protocol.__mro__):
        if klass is object or klass is Protocol or klass.__name__ in ("Generic",):
            continue
        for name in (*getattr(klass, "__annotations__", {}), *vars(klass)):
            if not name.startswith("_") and name not in members:
                members[name] = None
    return list(members)


def _call_problems(member: str, found: Any, expected: Callable[..., Any]) -> list[str]:
    if not callable(found):
        return [f"{member} is not callable"]
    wanted = [parameter for parameter in inspect.signature(expected).parameters.values()
              if parameter.name != "self"]
    try:
        inspect.signature(found).bind(*(object() for _ in wanted))
    except TypeError:
        names = ", ".join(parameter.name for parameter in wanted)
        return [f"{member} does not take ({names})"]
    except ValueError:  # no signature to read (a builtin): trust it
        return []
    return []
