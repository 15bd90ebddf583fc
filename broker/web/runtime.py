"""The running broker as the web layer sees it: context plus the built components."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app

from broker.context import BrokerContext


@dataclass(eq=False)
class Runtime:
    context: BrokerContext
    connectors: dict[str, Any]
    frontends: dict[str, Any]
    plugins: dict[str, Any]


def runtime() -> Runtime:
    value = current_app.extensions["broker"]
    assert isinstance(value, Runtime)
    return value
