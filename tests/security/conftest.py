"""The ACS-level security tests use the connector tests' app: mock DigiD connector and IdP,
and a stub frontend that records every identity and error the core hands it."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from tests.mock_idp.support import build_app


@pytest.fixture
def app(instance_path: Path) -> Flask:
    return build_app(instance_path)
