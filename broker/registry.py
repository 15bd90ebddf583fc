"""Finds connectors and frontends through entry points and builds them from config.

Every problem is found at start-up, not at first use, and reported as a ConfigError that names
the config table at fault (pluggy's load-time verification, applied to our groups).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import Any

from broker.config import ComponentSettings
from broker.context import BrokerContext
from broker.errors import ConfigError

CONNECTORS = "broker.connectors"
FRONTENDS = "broker.frontends"
PLUGINS = "broker.plugins"


def available(group: str) -> dict[str, Callable[..., Any]]:
    """Entry-point name -> loader for ``group``, without importing anything yet."""
    return {ep.name: ep.load for ep in entry_points(group=group)}


def build(group: str, section: str, components: Sequence[ComponentSettings],
          context: BrokerContext, required: Sequence[str]) -> dict[str, Any]:
    """Build each configured component of ``group``; check it has the ``required`` attributes."""
    loaders = available(group)
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
        missing = [attr for attr in required if not hasattr(instance, attr)]
        if missing:
            raise ConfigError(f"{where}: {component.type!r} lacks {', '.join(missing)}")
        built[component.name] = instance
    return built
