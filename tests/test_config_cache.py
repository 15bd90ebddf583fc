"""The per-process configuration cache: kept for a while, forgotten on any write, never
keeping absence."""

from typing import Any

from broker.config_cache import ConfigCache
from broker.context import BrokerContext
from broker.db import MockAccount
from broker.db import OidcClient
from broker.db import ServiceRecord
from broker.frontends.oidc.clients import find_client
from broker.frontends.oidc.clients import register_client

SECRET = "s" * 32


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Reads:
    """A read function that counts its calls and returns what it is told."""

    def __init__(self, value: Any) -> None:
        self.value, self.calls = value, 0

    def __call__(self) -> Any:
        self.calls += 1
        return self.value


def test_a_value_is_read_once_within_its_max_age_and_again_after() -> None:
    ticks, reads = Ticks(), Reads("v1")
    cache = ConfigCache(max_age=5, clock=ticks)
    assert cache.get("k", reads) == "v1"
    ticks.now = 4.9
    reads.value = "v2"
    assert cache.get("k", reads) == "v1"
    assert reads.calls == 1
    ticks.now = 5.0
    assert cache.get("k", reads) == "v2"
    assert reads.calls == 2


def test_absence_is_not_kept() -> None:
    reads = Reads(None)
    cache = ConfigCache(max_age=5, clock=Ticks())
    assert cache.get("k", reads) is None
    reads.value = "registered a moment ago"
    assert cache.get("k", reads) == "registered a moment ago"


def test_max_age_zero_reads_every_time() -> None:
    reads = Reads("v")
    cache = ConfigCache(max_age=0, clock=Ticks())
    cache.get("k", reads)
    cache.get("k", reads)
    assert reads.calls == 2


def test_a_client_updated_in_this_process_is_read_again_at_once(database: Any) -> None:
    cache = ConfigCache(max_age=300)
    register_client(database, client_id="rp-1", redirect_uris=["https://rp/cb"], secret=SECRET)
    assert find_client(database, "rp-1", cache).redirect_uris == ("https://rp/cb",)  # type: ignore[union-attr]
    register_client(database, client_id="rp-1", redirect_uris=["https://rp/new"], secret=SECRET)
    assert find_client(database, "rp-1", cache).redirect_uris == ("https://rp/new",)  # type: ignore[union-attr]


def test_a_service_added_in_this_process_is_in_the_next_catalogue(database: Any) -> None:
    cache = ConfigCache(max_age=300)
    context = BrokerContext(settings=None, store=None, flows=None,  # type: ignore[arg-type]
                            session=lambda: database, config=cache)
    assert len(context.catalogue()) == 0
    database.add(ServiceRecord(uuid="00000000-0000-0000-0000-000000000001", name="Nieuw",
                               via="digid", min_loa="substantial"))
    database.commit()
    assert context.catalogue().get("00000000-0000-0000-0000-000000000001").name == "Nieuw"


def test_a_copy_read_between_a_write_and_its_commit_is_forgotten_at_the_commit(
        database: Any) -> None:
    cache = ConfigCache(max_age=300)
    register_client(database, client_id="rp-1", redirect_uris=["https://rp/cb"], secret=SECRET)
    row = database.get(OidcClient, "rp-1")
    row.redirect_uris = ["https://rp/new"]
    database.flush()
    cache.get("copy", Reads("read before the commit"))
    database.commit()
    assert cache.get("copy", Reads("read after the commit")) == "read after the commit"


def test_writing_anything_else_keeps_the_copies(database: Any) -> None:
    cache = ConfigCache(max_age=300)
    cache.get("copy", Reads("kept"))
    database.add(MockAccount(idp="digid", username="u", name="n", identifier="1", level="basic",
                             password_hash="h"))
    database.commit()
    assert cache.get("copy", Reads("read again")) == "kept"
