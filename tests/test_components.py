"""The seam between the core and its components: every entry point the project declares loads
and builds into a component that conforms to its group's Protocol; one that does not is
refused at start-up with a message that names it; an application adds its own types with
``create_app(settings, components=...)``."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from flask import Blueprint
from flask import Flask

from broker.app import create_app
from broker.components import PROTOCOLS
from broker.components import Components
from broker.components import Connector
from broker.components import Frontend
from broker.components import conformance
from broker.config import demo_config
from broker.config import load_settings
from broker.errors import ConfigError
from broker.pipeline import MandateSource
from broker.web.runtime import Runtime
from tests.conftest import release

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
GROUPS = {"broker.connectors": "connectors", "broker.frontends": "frontends",
          "broker.plugins": "plugins"}


def _declared() -> dict[str, dict[str, str]]:
    """Entry-point group -> name -> "module:attribute", as pyproject.toml declares them."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    return {group: dict(project["entry-points"][group]) for group in GROUPS}


@pytest.fixture
def demo(instance_path: Path, tmp_path: Path) -> Iterator[Runtime]:
    """The demo broker plus the connectors to real identity providers (generic SAML,
    eHerkenning) on the mock IdPs' metadata: between them, one component of every type the
    project declares."""
    first = create_app(load_settings(demo_config("http://localhost"), instance_path=instance_path,
                                     environ={}))
    for idp in ("digid", "eherkenning"):
        (tmp_path / f"{idp}.xml").write_bytes(first.test_client().get(f"/mock/{idp}/metadata").data)
    release(first)
    config = demo_config("http://localhost")
    config["connectors"]["generic"] = {"type": "saml", "label": "Generic SAML",
                                       "metadata": str(tmp_path / "digid.xml")}
    config["connectors"]["eh"] = {"type": "eherkenning",
                                  "metadata": str(tmp_path / "eherkenning.xml")}
    app = create_app(load_settings(config, instance_path=instance_path, environ={}))
    runtime = app.extensions["broker"]
    assert isinstance(runtime, Runtime)
    yield runtime
    release(app)


def test_every_declared_entry_point_is_installed_as_declared_and_loads() -> None:
    for group, declared in _declared().items():
        installed = {point.name: point for point in entry_points(group=group)}
        for name, target in declared.items():
            assert name in installed, f"{group}: {name} is declared but not installed (pip install -e .)"
            assert installed[name].value == target, f"{group}: {name} is installed as {installed[name].value}"
            assert callable(installed[name].load()), f"{group}: {name} loads no factory"


def test_every_declared_type_builds_a_component_that_conforms_to_its_protocol(
        demo: Runtime) -> None:
    built: dict[str, dict[str, object]] = {
        "connectors": dict(demo.connectors), "frontends": dict(demo.frontends),
        "plugins": dict(demo.plugins)}
    for group, declared in _declared().items():
        section = GROUPS[group]
        protocol, _kind = PROTOCOLS[section]
        types = {type(component) for component in built[section].values()}
        installed = {point.name: point for point in entry_points(group=group)}
        for name, target in declared.items():
            assert installed[name].load() in types, f"{group}: no {name} ({target}) was built"
        for name, component in built[section].items():
            assert conformance(component, protocol) == [], f"{section}.{name}"


class _NoStart:
    """A connector without its start method."""

    label, via, is_mock = "Broken", "digid", True

    def __init__(self, *, name: str, context: Any) -> None:
        self.name = name
        self.blueprint = Blueprint(f"broken_{name}", __name__)


class _WrongOptions:
    """A mandate source whose options takes the wrong parameters."""

    def __init__(self, *, name: str, context: Any) -> None:
        self.name = name

    def options(self, identity: Any) -> list[Any]:
        return []


def _build(instance_path: Path, config: dict[str, Any], components: Components) -> Flask:
    return create_app(load_settings(config, instance_path=instance_path, environ={}), components)


def test_a_connector_that_lacks_a_member_is_refused_at_start_naming_it(
        instance_path: Path) -> None:
    config = demo_config("http://localhost")
    config["connectors"]["stuk"] = {"type": "broken"}
    with pytest.raises(ConfigError) as refused:
        _build(instance_path, config, Components(connectors={"broken": _NoStart}))
    assert str(refused.value) == "connectors.stuk: 'broken' is no connector: lacks start"


def test_a_plugin_whose_options_takes_other_parameters_is_refused_at_start(
        instance_path: Path) -> None:
    config = demo_config("http://localhost")
    config["plugins"]["fout"] = {"type": "wrong"}
    with pytest.raises(ConfigError) as refused:
        _build(instance_path, config, Components(plugins={"wrong": _WrongOptions}))
    assert str(refused.value) == ("plugins.fout: 'wrong' is no mandate source: options does not "
                                  "take (identity, service, now)")


def test_a_type_the_application_gives_is_built_beside_the_installed_ones(
        instance_path: Path) -> None:
    class Quiet:
        def __init__(self, *, name: str, context: Any) -> None:
            self.name = name

        def options(self, identity: Any, service: Any, now: Any) -> list[Any]:
            return []

    config = demo_config("http://localhost")
    config["plugins"]["stil"] = {"type": "quiet"}
    app = _build(instance_path, config, Components(plugins={"quiet": Quiet}))
    runtime = app.extensions["broker"]
    assert isinstance(runtime.plugins["stil"], Quiet)
    assert set(runtime.plugins) == {"machtigen", "wettelijk", "bedrijf", "keten", "stil"}
    release(app)


def test_an_unknown_type_names_the_installed_and_the_given_ones(instance_path: Path) -> None:
    config = demo_config("http://localhost")
    config["plugins"]["x"] = {"type": "nowhere"}
    with pytest.raises(ConfigError) as refused:
        _build(instance_path, config, Components(plugins={"quiet": _WrongOptions}))
    assert str(refused.value).startswith("plugins.x.type: no 'nowhere' installed (found: ")
    assert "quiet" in str(refused.value) and "chain_mandates" in str(refused.value)


def test_the_protocols_list_what_the_core_calls() -> None:
    assert conformance(object(), Connector) == [
        "lacks name", "lacks label", "lacks via", "lacks is_mock", "lacks blueprint", "lacks start"]
    assert conformance(object(), Frontend) == [
        "lacks name", "lacks blueprint", "lacks respond", "lacks respond_error"]
    assert conformance(object(), MandateSource) == ["lacks name", "lacks options"]
