"""The app for these tests: mock DigiD connector and IdP, a recording stub frontend."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from tests.mock_idp.support import build_app


@pytest.fixture
def app(instance_path: Path) -> Flask:
    return build_app(instance_path)
