"""README's "Where things are" stays true to the tree: every path it names exists, and every
module and package of ``broker/`` is on it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _named() -> set[str]:
    """The paths in the map's first column; indented entries are under ``broker/``."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## Where things are", 1)[1].split("```", 2)[1]
    named: set[str] = set()
    for line in block.splitlines()[1:]:
        first = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
        if not first or not line.strip() or line.startswith(" " * 10):
            continue  # a continued description
        prefix = "broker/" if line.startswith("  ") else ""
        named.update(prefix + part.strip() for part in first.split(",") if part.strip())
    return named


def test_every_path_the_map_names_exists() -> None:
    missing = sorted(path for path in _named() if not (ROOT / path).exists())
    assert not missing, f"README names paths that do not exist: {missing}"


def test_every_module_and_package_of_the_broker_is_on_the_map() -> None:
    named = {path.rstrip("/") for path in _named()}
    present = {f"broker/{entry.name}" for entry in (ROOT / "broker").iterdir()
               if (entry.suffix == ".py" and entry.name != "__init__.py")
               or (entry.is_dir() and (entry / "__init__.py").exists())}
    assert not present - named, f"not on README's map: {sorted(present - named)}"
