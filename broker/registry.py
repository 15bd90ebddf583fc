"""Finds connectors, frontends and plugins (entry points, and the types an application adds)
and builds them from config.

Every problem is found at start-up, not at first use, and reported as a ConfigError that names
the config table at fault (pluggy's load-time verification, applied to our groups): an unknown
type, options the factory refuses, and a built component that does not conform to its group's
Protocol (:mod:`broker.components`).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import Any

from broker.components import PROTOCOLS
from broker.components import Factory
from broker.components import conformance
from broker.config import ComponentSettings
from broker.context import BrokerContext
from broker.errors import ConfigError

CONNECTORS = "broker.connectors"
FRONTENDS = "broker.frontends"
PLUGINS = "broker.plugins"


def available(group: str) -> dict[str, Callable[[], Factory]]:
    """Entry-point name -> loader for ``group``, without importing anything yet."""
    return {ep.name: ep.load for ep in entry_points(group=group)}


def build(group: str, section: str, components: Sequence[ComponentSettings],
          context: BrokerContext, types: Mapping[str, Factory] | None = None) -> dict[str, Any]:
    """Build each configured component of ``group`` (``section`` is its config table: one of
    :data:`broker.components.PROTOCOLS`); ``types`` are factories beyond the installed entry
    points, and win over one of the same name. Each is checked against its Protocol."""
    loaders = {**available(group), **{name: _given(factory) for name, factory in (types or {}).items()}}
    protocol, kind = PROTOCOLS[section]
    built: dict[str, Any] = {}
    for component in components:
        where = f"{section}.{component.name}"
        if component.type not in loaders:
            known = ", ".join(sorted(loaders)) or "none"
            raise ConfigError(f"{where}.type: no {component.type!r} installed (found: {known})")
        try:
            factory = loaders[component.type]()
            instance = factory(name=component.name, context=context, **component.options)
        except TypeError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
        except (ValueError, OSError) as exc:
            raise ConfigError(f"{where}: {exc}") from exc
        problems = conformance(instance, protocol)
        if problems:
            raise ConfigError(f"{where}: {component.type!r} is no {kind}: {'; '.join(problems)}")
        built[component.name] = instance
    return built


def _given(factory: Factory) -> Callable[[], Factory]:
    return lambda: factory
