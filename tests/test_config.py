"""Config checking: every mistake names its key."""

from pathlib import Path
from typing import Any

import pytest

from broker.config import demo_config
from broker.config import load_settings
from broker.errors import ConfigError


def _load(data: dict[str, Any], tmp_path: Path, environ: dict[str, str] | None = None) -> Any:
    return load_settings(data, instance_path=tmp_path, environ=environ or {})


def test_demo_config_loads_with_mocks_allowed(tmp_path: Path) -> None:
    settings = _load(demo_config("http://127.0.0.1:5000"), tmp_path)
    assert settings.allow_mock_connectors and settings.demo
    assert settings.database_url.startswith("sqlite:///")
    assert [c.type for c in settings.connectors] == ["mock_digid", "mock_eherkenning"]


def test_secret_key_comes_from_the_environment_or_the_instance(tmp_path: Path) -> None:
    data = demo_config("http://x")
    assert _load(data, tmp_path, {"BROKER_SECRET_KEY": "s3cret"}).secret_key == "s3cret"
    first = _load(data, tmp_path).secret_key
    assert first == _load(data, tmp_path).secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_database_url_comes_from_the_environment(tmp_path: Path) -> None:
    settings = _load(demo_config("http://x"), tmp_path, {"DATABASE_URL": "postgresql://db/b"})
    assert settings.database_url == "postgresql://db/b"


@pytest.mark.parametrize(("change", "key"), [
    (lambda d: d["broker"].pop("base_url"), "broker.base_url"),
    (lambda d: d["broker"].update(base_url="ftp://x"), "broker.base_url"),
    (lambda d: d["broker"].update(colour="blue"), "broker.colour"),
    (lambda d: d["broker"].update(demo="yes"), "broker.demo"),
    (lambda d: d["broker"].update(clock_skew_seconds=9999), "broker.clock_skew_seconds"),
    (lambda d: d["broker"].update(config_cache_seconds=-1), "broker.config_cache_seconds"),
    (lambda d: d["broker"].update(config_cache_seconds=301), "broker.config_cache_seconds"),
    (lambda d: d["broker"].update(config_cache_seconds="5"), "broker.config_cache_seconds"),
    (lambda d: d["connectors"]["digid"].pop("type"), "connectors.digid.type"),
    (lambda d: d.update(extra={}), "extra"),
    (lambda d: d.update(connectors={}), "connectors"),
])
def test_bad_config_names_the_key(change: Any, key: str, tmp_path: Path) -> None:
    data = demo_config("http://x")
    change(data)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        _load(data, tmp_path)


def test_register_limits_are_read_and_checked(tmp_path: Path) -> None:
    data = demo_config("http://x")
    data["register"] = {"attempts_per_code": 3, "letter_code_seconds": 86400}
    assert _load(data, tmp_path).register == {"attempts_per_code": 3, "letter_code_seconds": 86400}
    data["register"] = {"attempts_per_code": 0}
    with pytest.raises(ConfigError, match=r"register\.attempts_per_code: must be"):
        _load(data, tmp_path)
    data["register"] = {"tries": 3}
    with pytest.raises(ConfigError, match=r"register\.tries: unknown key"):
        _load(data, tmp_path)
