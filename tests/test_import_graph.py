"""Who may import whom, read from the source with :mod:`ast` (nothing is imported).

Adapters (connectors, frontends, the mock identity providers, the portals, the admin, the
plugins) meet only in the core and the web layer, never in each other; connectors and plugins
stand on the core alone; the login's steps are Plain Python in :mod:`broker.login`, and nobody
outside the web layer reaches them through a view module. Every import counts: at the top,
inside a function, under ``if TYPE_CHECKING:``, absolute or relative.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: each its own adapter; a module may import its own adapter's other modules
ADAPTERS = ("broker.connectors", "broker.frontends", "broker.mock_idp", "broker.portal",
            "broker.admin", "plugins")
WEB = "broker.web"
FLOW_VIEWS = "broker.web.flow_views"
#: the app factory mounts the flow's views (their blueprint and error handlers); it is the one
#: module outside the web layer that names them
APP_FACTORY = "broker.app"


@dataclass(frozen=True, slots=True)
class Import:
    path: Path
    line: int
    #: absolute, with the name imported: ``from ..web import flow_views`` (in a broker package)
    #: is broker.web.flow_views, ``from broker.login import Login`` broker.login.Login
    module: str

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}: imports {self.module}"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(path: Path) -> str:
    name = module_name(path)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _imported(node: ast.Import | ast.ImportFrom, path: Path) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        package = _package(path).split(".")
        anchor = ".".join(package[:len(package) - node.level + 1])
        base = f"{anchor}.{base}" if base else anchor
    yield from (base if alias.name == "*" else f"{base}.{alias.name}" for alias in node.names)


def imports_of(path: Path) -> list[Import]:
    """Every module ``path`` imports, wherever the statement stands."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [Import(path, node.lineno, name) for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom) for name in _imported(node, path)]


def modules(*packages: str) -> list[Path]:
    paths: list[Path] = []
    for package in packages:
        folder = ROOT.joinpath(*package.split("."))
        paths += sorted(folder.rglob("*.py")) if folder.is_dir() else [folder.with_suffix(".py")]
    return paths


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def adapter_of(module: str) -> str | None:
    return next((adapter for adapter in ADAPTERS if within(module, adapter)), None)


def _report(found: list[Import]) -> str:
    return "\n".join(str(item) for item in found)


def test_the_graph_reader_sees_imports_in_functions_type_checking_blocks_and_relative_ones(
        tmp_path: Path) -> None:
    package = ROOT / "broker" / "portal"
    source = package / "views.py"
    found = {item.module for item in imports_of(source)}
    assert "broker.web.once.once" in found  # a sanity check on a real module
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from broker.admin import views\n"
        "def f():\n    import broker.mock_idp.engine\n    from . import forms\n"
        "    from ..web import security\n")
    relative = {name for node in ast.walk(ast.parse(sample.read_text()))
                if isinstance(node, ast.Import | ast.ImportFrom)
                for name in _imported(node, source)}
    assert {"broker.admin.views", "broker.mock_idp.engine", "broker.portal.forms",
            "broker.web.security"} <= relative


def test_no_adapter_imports_another_adapter() -> None:
    crossing = [item for path in modules(*ADAPTERS) for item in imports_of(path)
                if adapter_of(item.module) not in (None, adapter_of(module_name(path)))]
    assert not crossing, "an adapter imports another adapter:\n" + _report(crossing)


def test_connectors_and_plugins_import_nothing_of_the_web_layer() -> None:
    found = [item for path in modules("broker.connectors", "plugins")
             for item in imports_of(path) if within(item.module, WEB)]
    assert not found, "a connector or plugin imports the web layer:\n" + _report(found)


def test_nothing_outside_the_web_layer_reaches_the_login_through_its_views() -> None:
    outside = [path for path in modules("broker", "plugins")
               if not within(module_name(path), WEB) and module_name(path) != APP_FACTORY]
    found = [item for path in outside for item in imports_of(path)
             if within(item.module, FLOW_VIEWS)]
    assert not found, "imports the flow's views (use broker.login or " \
                      "broker.web.continuations):\n" + _report(found)


def test_the_login_steps_import_no_flask_or_werkzeug() -> None:
    found = [item for item in imports_of(ROOT / "broker" / "login.py")
             if within(item.module, "flask") or within(item.module, "werkzeug")]
    assert not found, "broker/login.py must stay Plain Python:\n" + _report(found)
