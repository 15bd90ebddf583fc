"""Configuration: one TOML file, secrets from the environment, checked into typed settings.

::

    [broker]
    base_url = "https://broker.example.nl"     # required
    allow_mock_connectors = false              # mock DigiD / eHerkenning refused unless true
    demo = false                               # mount the mock IdPs and demo relying parties
    clock_skew_seconds = 60                    # tolerance on SAML time conditions
    flow_lifetime_seconds = 900                # a login must finish within this
    database_url = "sqlite:///broker.db"       # or env DATABASE_URL / BROKER_DATABASE_URL
    redis_url = "redis://cache:6379/0"         # optional, or env REDIS_URL: state in Redis
    redis_prefix = "broker:"                   # before every key: brokers sharing one Redis
    config_cache_seconds = 5                   # services, clients, SPs kept per process (0: off)
    housekeeping_seconds = 60                  # abandoned logins, expired state (0: cron only)

    [connectors.digid]                         # the table key names the instance
    type = "mock_digid"                        # entry point in group broker.connectors
    label = "DigiD"                            # other keys are the connector's own options

    [frontends.oidc]
    type = "oidc"

    [plugins.machtigen]                        # mandate plugins, in the order they are asked
    type = "digid_machtigen"                   # entry point in group broker.plugins

    [register]                                 # optional: activation codes and attempt limits
    screen_code_seconds = 3600                 # a code shown on screen (DigiD Machtigen: 1 h)
    letter_code_seconds = 2592000              # a code sent by letter (30 days)
    attempts_per_code = 5                      # then the code is locked
    attempts_per_person = 10                   # per window, then activation is blocked
    attempt_window_seconds = 86400             # the window (the demo: 15 minutes)
    chain_depth = 1                            # intermediaries in a chain (eHerkenning: 1)

    [accounts]                                 # optional: logins with a password and a code
    max_failures = 5                           # wrong attempts in a row, then the account locks
    lockout_seconds = 900                      # the cool-down, unless an administrator unlocks
    address_attempts = 30                      # attempts per client address per window
    address_window_seconds = 900
    min_password_length = 12

Secrets never live in the file: ``BROKER_SECRET_KEY`` (else a random key kept in the instance
folder), ``DATABASE_URL`` and ``REDIS_URL``. :func:`load_settings` raises :class:`ConfigError` naming the
dotted key that is wrong.
"""

from __future__ import annotations

import os
import re
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from broker.accounts.policy import RANGES as ACCOUNT_RANGES
from broker.errors import ConfigError

_BROKER_KEYS = {
    "base_url": str, "allow_mock_connectors": bool, "demo": bool, "clock_skew_seconds": int,
    "flow_lifetime_seconds": int, "database_url": str, "trust_proxy": bool, "redis_url": str,
    "redis_prefix": str, "config_cache_seconds": int, "housekeeping_seconds": int,
}
#: the databases the broker runs on: the embedded SQLite default, or PostgreSQL
_DATABASE_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg", "postgres")
_REDIS_PREFIX = re.compile(r"[A-Za-z0-9_.:-]{1,64}\Z")


#: [register] keys: activation codes and wrong-attempt limits, with their allowed ranges.
_REGISTER_KEYS = {
    "screen_code_seconds": (60, 86400),
    "letter_code_seconds": (3600, 90 * 86400),
    "attempts_per_code": (1, 20),
    "attempts_per_person": (1, 100),
    "attempt_window_seconds": (60, 7 * 86400),
    "chain_depth": (1, 3),
}


@dataclass(frozen=True, slots=True)
class ComponentSettings:
    """One configured connector or frontend: instance name, entry-point type, own options."""

    name: str
    type: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    base_url: str
    instance_path: Path
    database_url: str
    secret_key: str
    #: flows, codes, replay marks and rate limits in Redis instead of the database when set
    redis_url: str | None = None
    redis_prefix: str = "broker:"
    allow_mock_connectors: bool = False
    demo: bool = False
    trust_proxy: bool = False
    clock_skew_seconds: int = 60
    flow_lifetime_seconds: int = 900
    #: how long a process keeps services, clients and SPs it read (see broker.config_cache)
    config_cache_seconds: int = 5
    #: how often each process runs broker.housekeeping.sweep after a request (0: never)
    housekeeping_seconds: int = 60
    connectors: tuple[ComponentSettings, ...] = ()
    frontends: tuple[ComponentSettings, ...] = ()
    plugins: tuple[ComponentSettings, ...] = ()
    #: overrides of broker.register.service.Limits, e.g. {"letter_code_seconds": 2592000}
    register: Mapping[str, int] = field(default_factory=dict)
    #: overrides of broker.accounts.policy.AccountPolicy, e.g. {"max_failures": 5}
    accounts: Mapping[str, int] = field(default_factory=dict)

    @property
    def keys_path(self) -> Path:
        return self.instance_path / "keys"

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")


def demo_config(base_url: str) -> dict[str, Any]:
    """The configuration ``broker demo`` runs when given no file."""
    return {
        "broker": {"base_url": base_url, "allow_mock_connectors": True, "demo": True},
        "connectors": {
            "digid": {"type": "mock_digid", "label": "DigiD"},
            "eherkenning": {"type": "mock_eherkenning", "label": "eHerkenning"},
        },
        "frontends": {"oidc": {"type": "oidc"}, "saml": {"type": "saml_idp"}},
        "plugins": {
            "machtigen": {"type": "digid_machtigen"},
            "wettelijk": {"type": "legal_representation"},
            "bedrijf": {"type": "eherkenning"},
            "keten": {"type": "chain_mandates"},
        },
        # a person trying the demo who blocks activation on purpose waits 15 minutes, not a
        # day; the other limits count wrong attempts only, so walking the README never hits one
        "register": {"attempt_window_seconds": 900},
    }


def read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def load_settings(data: Mapping[str, Any], *, instance_path: Path,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Check ``data`` (a parsed TOML document) and the environment into :class:`Settings`."""
    environ = os.environ if environ is None else environ
    unknown = set(data) - {"broker", "connectors", "frontends", "plugins", "register",
                           "accounts"}
    if unknown:
        raise ConfigError(f"{sorted(unknown)[0]}: unknown section")
    broker = _table(data, "broker")
    for key, value in broker.items():
        expected = _BROKER_KEYS.get(key)
        if expected is None:
            raise ConfigError(f"broker.{key}: unknown key")
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(f"broker.{key}: must be {expected.__name__}")
    base_url = _base_url(broker.get("base_url"))
    settings = Settings(
        base_url=base_url,
        instance_path=instance_path,
        database_url=_database_url(broker, environ, instance_path),
        secret_key=environ.get("BROKER_SECRET_KEY") or _instance_secret(instance_path),
        redis_url=_redis_url(broker, environ),
        redis_prefix=_redis_prefix(broker),
        allow_mock_connectors=broker.get("allow_mock_connectors", False),
        demo=broker.get("demo", False),
        trust_proxy=broker.get("trust_proxy", False),
        clock_skew_seconds=_bounded(broker, "clock_skew_seconds", 60, 0, 300),
        flow_lifetime_seconds=_bounded(broker, "flow_lifetime_seconds", 900, 60, 3600),
        config_cache_seconds=_bounded(broker, "config_cache_seconds", 5, 0, 300),
        housekeeping_seconds=_bounded(broker, "housekeeping_seconds", 60, 0, 3600),
        connectors=_components(data, "connectors"),
        frontends=_components(data, "frontends"),
        plugins=_components(data, "plugins"),
        register=_whole_numbers(data, "register", _REGISTER_KEYS),
        accounts=_whole_numbers(data, "accounts", ACCOUNT_RANGES),
    )
    if not settings.connectors:
        raise ConfigError("connectors: at least one connector is needed")
    if not settings.frontends:
        raise ConfigError("frontends: at least one frontend is needed")
    return settings


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: must be a table")
    return value


def _base_url(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError("broker.base_url: missing")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError("broker.base_url: must be an http(s) URL without query or fragment")
    return value.rstrip("/")


def _bounded(table: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = int(table.get(key, default))
    if not low <= value <= high:
        raise ConfigError(f"broker.{key}: must be between {low} and {high}")
    return value


def _whole_numbers(data: Mapping[str, Any], section: str,
                   ranges: Mapping[str, tuple[int, int]]) -> dict[str, int]:
    """The ``[section]`` table of whole-number settings, each within its range."""
    limits = {}
    for key, value in _table(data, section).items():
        if key not in ranges:
            raise ConfigError(f"{section}.{key}: unknown key")
        low, high = ranges[key]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ConfigError(f"{section}.{key}: must be a whole number from {low} to {high}")
        limits[key] = value
    return limits


def _database_url(table: Mapping[str, Any], environ: Mapping[str, str], instance: Path) -> str:
    """BROKER_DATABASE_URL or DATABASE_URL, else ``broker.database_url`` (which may not hold a
    password), else the embedded SQLite in the instance folder. A refusal does not repeat the
    URL, since it may hold a password."""
    for key in ("BROKER_DATABASE_URL", "DATABASE_URL"):
        if environ.get(key):
            return _checked_database_url(key, environ[key])
    url = table.get("database_url")
    if not url:
        return f"sqlite:///{(instance / 'broker.db').resolve()}"
    checked = _checked_database_url("broker.database_url", url)
    if urlsplit(checked).password:
        raise ConfigError("broker.database_url: holds a password; set the URL in env "
                          "DATABASE_URL instead")
    return checked


def _checked_database_url(key: str, url: str) -> str:
    scheme = url.partition("://")[0]
    if scheme not in _DATABASE_SCHEMES or not url.partition("://")[2]:
        raise ConfigError(f"{key}: must be a sqlite:/// or postgresql:// URL")
    return url


def _redis_prefix(table: Mapping[str, Any]) -> str:
    prefix = table.get("redis_prefix", "broker:")
    if not _REDIS_PREFIX.match(prefix):
        raise ConfigError("broker.redis_prefix: 1 to 64 letters, digits or _ . : -")
    return str(prefix)


def _redis_url(table: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    """REDIS_URL, else ``broker.redis_url`` (which may not hold a password); the URL is not
    repeated in a refusal, since it may hold one."""
    key, url = ("REDIS_URL", environ["REDIS_URL"]) if environ.get("REDIS_URL") else (
        "broker.redis_url", table.get("redis_url"))
    if not url:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError on a port that is not a number)
    except ValueError:
        raise ConfigError(f"{key}: not a valid URL") from None
    place = parts.path if parts.scheme == "unix" else parts.hostname
    if parts.scheme not in ("redis", "rediss", "unix") or not place:
        raise ConfigError(f"{key}: must be a redis://, rediss:// or unix:// URL")
    if key != "REDIS_URL" and (parts.password or "password=" in parts.query):
        raise ConfigError(f"{key}: holds a password; set the URL in env REDIS_URL instead")
    return str(url)


def _components(data: Mapping[str, Any], section: str) -> tuple[ComponentSettings, ...]:
    components = []
    for name, table in _table(data, section).items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"{section}.{name}: must be a table")
        kind = table.get("type")
        if not isinstance(kind, str) or not kind:
            raise ConfigError(f"{section}.{name}.type: missing")
        options = {key: value for key, value in table.items() if key != "type"}
        components.append(ComponentSettings(name=name, type=kind, options=options))
    return tuple(components)


def _instance_secret(instance_path: Path) -> str:
    """A random secret kept in the instance folder, so restarts keep sessions valid."""
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(value)
    return value
