"""The core and the plugins import no Flask: the flow, the state store, the register and every
plugin run without the web layer (and its test app), which binds them to Flask only in
:mod:`broker.web`."""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import broker.register
import plugins
from broker import schema
from broker.db import Base
from broker.web.database import db

ROOT = Path(__file__).resolve().parents[1]

#: the web layer's packages; the core must not load any of them
FORBIDDEN = ("flask", "flask_sqlalchemy", "werkzeug")

CORE = [
    "broker.identity", "broker.flow", "broker.pipeline", "broker.registry", "broker.errors",
    "broker.config", "broker.state", "broker.state_redis", "broker.audit", "broker.register",
    "broker.context", "broker.journal", "broker.locks", "broker.submissions", "broker.clock",
    "broker.db", "broker.config_cache", "broker.services", "broker.loa", "broker.identifiers",
    "broker.keys", "broker.components", "broker.housekeeping", "broker.accounts",
]

#: run in a fresh interpreter: import the modules named on the command line one by one and
#: print, as JSON, the first import of a forbidden package and the chain of modules that led there
_CHECK = """
import importlib, json, sys, traceback

FORBIDDEN = set(sys.argv[1].split(","))
found = []


class Watch:
    def find_spec(self, name, path=None, target=None):
        if not found and name.partition(".")[0] in FORBIDDEN:
            chain = [frame.f_globals.get("__name__", "?") for frame, _ in traceback.walk_stack(None)
                     if frame.f_code.co_name == "<module>"]
            found.append({"package": name, "chain": list(reversed(chain))})
        return None


sys.meta_path.insert(0, Watch())
for module in sys.argv[2:]:
    importlib.import_module(module)
    if found:
        print(json.dumps({"module": module, **found[0]}))
        break
else:
    print(json.dumps({"module": None, "imported": sys.argv[2:]}))
"""


def _submodules(package: Any, prefix: str) -> list[str]:
    """Every module under ``package`` (a new one is covered without naming it here)."""
    return [module.name for module in pkgutil.walk_packages(package.__path__, prefix)]


def _first_flask_import(modules: list[str]) -> dict[str, Any]:
    """Import ``modules`` in order in a fresh interpreter (this one has loaded Flask long ago);
    the first import of a forbidden package, or ``module`` None when there was none."""
    path = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(part for part in path if part))
    done = subprocess.run([sys.executable, "-c", _CHECK, ",".join(FORBIDDEN), *modules], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_core_and_every_plugin_import_without_flask() -> None:
    plugin_modules = _submodules(plugins, "plugins.")
    assert "plugins.citizen_register" in plugin_modules  # the walk finds the plugins
    modules = CORE + _submodules(broker.register, "broker.register.") + plugin_modules

    result = _first_flask_import(modules)

    assert result["module"] is None, (
        f"importing {result['module']} loads {result['package']}, through "
        + " -> ".join(result["chain"]))
    assert result["imported"] == modules


def test_the_web_layer_binds_the_core_tables_to_flask_sqlalchemy() -> None:
    assert db.metadata is Base.metadata
    assert schema.metadata() is Base.metadata
    assert {"ephemeral_state", "brp_person", "audit_entry", "lock_bucket"} <= set(db.metadata.tables)
