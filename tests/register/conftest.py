"""The seeded register and its catalogue, for the bulk import tests."""

from typing import Any

import pytest

from broker.context import service_from_record
from broker.db import ServiceRecord
from broker.demo.seed import seed
from broker.services import ServiceCatalogue
from tests.register import NOW


@pytest.fixture
def session(database: Any) -> Any:
    """The demo world seeded at :data:`tests.register.NOW`."""
    seed(database, now=NOW)
    return database


@pytest.fixture
def catalogue(session: Any) -> ServiceCatalogue:
    return ServiceCatalogue([service_from_record(r) for r in session.query(ServiceRecord)])
