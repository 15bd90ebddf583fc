"""One row made valid: its parties, services, level, branch and period checked against the
catalogue, and normalised into a :class:`Row` with a deterministic import key.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable
from datetime import UTC
from datetime import date
from datetime import datetime
from typing import Any
from typing import NamedTuple
from typing import TypeVar

from broker import loa as levels
from broker.identifiers import is_branch_number
from broker.identifiers import is_bsn
from broker.identifiers import is_kvk
from broker.identifiers import is_rsin
from broker.register.bulk_import.report import RowError
from broker.services import ServiceCatalogue
from broker.text import Bilingual

_T = TypeVar("_T")


#: mandate kind -> (represented party types, representative party types)
PARTY_TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "company": (("kvk", "rsin"), ("pseudonym",)),
    "chain": (("kvk",), ("kvk",)),
    "voluntary": (("bsn",), ("bsn",)),
}


KEY_LENGTH = 32


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}\Z", re.ASCII)


_PSEUDONYM = re.compile(r"^[0-9A-Za-z][0-9A-Za-z@._:-]{0,199}\Z", re.ASCII)


_CHECKS: dict[str, Callable[[str], bool]] = {
    "kvk": is_kvk, "rsin": is_rsin, "bsn": is_bsn, "pseudonym": lambda v: bool(_PSEUDONYM.match(v)),
}


_NAMES = {"kvk": Bilingual("KvK-nummer", "KvK number"), "rsin": Bilingual("RSIN", "RSIN"),
          "bsn": Bilingual("BSN", "BSN"), "pseudonym": Bilingual("pseudoniem", "pseudonym")}


class Row(NamedTuple):
    """A valid row, normalised (a named tuple: made for every row, and fast to make)."""

    kind: str
    represented: tuple[str, str]
    representative: tuple[str, str]
    services: tuple[str, ...]
    loa: str | None
    branch: str | None
    valid_from: date
    valid_until: date | None

    def key(self) -> str:
        """Deterministic over the normalised row: the same mandate always gets the same key.
        128 bits of sha256 (32 hex digits): collision-free in practice, and a smaller unique
        index, which is most of what an import writes."""
        text = "\x1f".join((
            self.kind, *self.represented, *self.representative, " ".join(sorted(self.services)),
            self.loa or "", self.branch or "", self.valid_from.isoformat(),
            self.valid_until.isoformat() if self.valid_until else ""))
        return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]


class Validator:
    """Checks one row against the identifier rules and the catalogue read once at the start."""

    def __init__(self, catalogue: ServiceCatalogue, *, today: date) -> None:
        self._accepts = {service.uuid: frozenset(service.accepts) for service in catalogue}
        self._names = {service.uuid: service.name for service in catalogue}
        self._today = today
        #: checked values that repeat over a file (service lists, periods), by their text
        self._known: dict[tuple[Any, ...], Any] = {}
        #: (kind, services, loa, valid_from, valid_until) as given -> their checked values
        self._passed: dict[tuple[Any, ...], tuple[Any, ...]] = {}

    def check(self, fields: dict[str, Any] | RowError) -> Row:
        """The row, normalised, or RowError for its first fault (in the order of the fields).
        Written for speed, as it runs for every row: few calls, the common case first."""
        if isinstance(fields, RowError):
            raise fields
        get = fields.get
        kind = get("kind")
        kind = kind.strip() if kind.__class__ is str else _text(kind, "kind")
        allowed = PARTY_TYPES.get(kind)
        if allowed is None:
            raise RowError(f"onbekende soort machtiging '{kind}' (company, chain of voluntary)",
                           f"unknown mandate kind '{kind}' (company, chain or voluntary)")
        represented = _party(get, _REPRESENTED, allowed[0], kind)
        representative = _party(get, _REPRESENTATIVE, allowed[1], kind)
        if kind != "company" and represented[1] == representative[1]:
            raise RowError("machtiger en gemachtigde zijn dezelfde partij",
                           "the represented party and the representative are the same")
        branch = get("branch")
        values = (kind, get("services"), get("loa"), get("valid_from"), get("valid_until"))
        try:
            services, loa, valid_from, valid_until = self._passed[values]
        except (KeyError, TypeError):  # not seen yet, or a list (JSON Lines): not a key
            return self._check_slowly(values, represented, representative, branch)
        if branch is not None:
            branch = self._branch(_text(branch, "branch"), kind)
        return Row(kind, represented, representative, services, loa, branch, valid_from,
                    valid_until)

    def _check_slowly(self, values: tuple[Any, ...], represented: tuple[str, str],
                      representative: tuple[str, str], branch: Any) -> Row:
        """:meth:`check` for services, level and period not seen together before (in the
        order :meth:`check` promises); remembered together when they pass."""
        kind, services_value, loa_value, start, end = values
        services = self._remember("services", self._services, services_value, kind)
        loa = self._remember("loa", self._loa, loa_value)
        branch = self._branch(_text(branch, "branch"), kind)
        valid_from, valid_until = self._remember("period", self._period, start, end)
        try:
            if len(self._passed) > 10_000:
                self._passed.clear()
            self._passed[values] = (services, loa, valid_from, valid_until)
        except TypeError:
            pass
        return Row(kind, represented, representative, services, loa, branch, valid_from,
                    valid_until)

    def _remember(self, name: str, check: Callable[..., _T], *args: Any) -> _T:
        """``check(*args)``, remembered when it passes. A refusal is rare and is not
        remembered; neither is a list (JSON Lines services), which cannot be a key."""
        key = (name, *args)
        try:
            return self._known[key]  # type: ignore[no-any-return]
        except KeyError:
            pass
        except TypeError:
            return check(*args)
        value = check(*args)
        if len(self._known) > 10_000:
            self._known.clear()
        self._known[key] = value
        return value

    def _services(self, value: Any, kind: str) -> tuple[str, ...]:
        if isinstance(value, str):
            items = value.split()
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            items = [item.strip() for item in value]
        else:
            items = []
        if not items:
            raise RowError("geen dienst opgegeven", "no service given")
        services = tuple(dict.fromkeys(item.lower() for item in items))
        for service in services:
            accepts = self._accepts.get(service)
            if accepts is None:
                raise RowError(f"onbekende dienst {service[:40]}", f"unknown service "
                               f"{service[:40]}")
            if kind not in accepts:
                name = self._names[service]
                raise RowError(f"{name} staat machtigingen van de soort {kind} niet toe",
                               f"{name} does not accept mandates of kind {kind}")
        return services

    def _loa(self, given: Any) -> str | None:
        value = _text(given, "loa")
        if not value:
            return None
        level = value if levels.is_level(value) else levels.from_uri(value)
        if level is None:
            raise RowError(f"onbekend betrouwbaarheidsniveau '{value[:60]}'",
                           f"unknown level of assurance '{value[:60]}' (one of "
                           f"{', '.join(levels.LEVELS)})")
        return level

    def _branch(self, value: str, kind: str) -> str | None:
        if not value:
            return None
        if kind == "voluntary":
            raise RowError("een vestigingsnummer hoort niet bij een machtiging tussen burgers",
                           "a branch number does not belong to a mandate between citizens")
        if not is_branch_number(value):
            raise RowError(f"ongeldig vestigingsnummer '{value[:40]}' (12 cijfers)",
                           f"invalid branch number '{value[:40]}' (12 digits)")
        return value

    def _period(self, start: Any, end: Any) -> tuple[date, date | None]:
        valid_from = self._date(_text(start, "valid_from"), "valid_from")
        end = _text(end, "valid_until")
        if not end:
            return valid_from, None
        valid_until = self._date(end, "valid_until")
        if valid_until <= valid_from:
            raise RowError("valid_until ligt niet na valid_from",
                           "valid_until is not after valid_from")
        if valid_until <= self._today:
            raise RowError("valid_until ligt in het verleden", "valid_until is in the past")
        return valid_from, valid_until

    def _date(self, text: str, name: str) -> date:
        try:
            if not _DATE.match(text):
                raise ValueError(text)
            parsed = date.fromisoformat(text)
        except ValueError:
            raise RowError(f"{name}: geen datum als JJJJ-MM-DD: '{text[:20]}'",
                           f"{name}: not a date as YYYY-MM-DD: '{text[:20]}'") from None
        return parsed


_REPRESENTED = ("represented", "represented_type")


_REPRESENTATIVE = ("representative", "representative_type")


def _party(get: Callable[[str], Any], names: tuple[str, str], allowed: tuple[str, ...],
           kind: str) -> tuple[str, str]:
    """(type, value) of one side of the row, ``names`` being its fields' (value, type)."""
    side, type_name = names
    party_type, value = get(type_name), get(side)
    party_type = (party_type.strip() if party_type.__class__ is str
                  else _text(party_type, type_name))
    value = value.strip() if value.__class__ is str else _text(value, side)
    if party_type not in allowed:
        raise RowError(f"{side}_type '{party_type}' past niet bij {kind} (toegestaan: "
                       f"{', '.join(allowed)})", f"{side}_type '{party_type}' does not fit "
                       f"{kind} (allowed: {', '.join(allowed)})")
    if not _CHECKS[party_type](value):
        nl, en = _NAMES[party_type].nl, _NAMES[party_type].en
        rule_nl, rule_en = {"kvk": ("8 cijfers", "8 digits"),
                            "pseudonym": ("letters, cijfers en @._:-", "letters, digits "
                                          "and @._:-")}.get(
            party_type, ("9 cijfers en de elfproef", "9 digits passing the 11-test"))
        raise RowError(f"{side}: ongeldig {nl} '{value[:40]}' ({rule_nl})",
                       f"{side}: invalid {en} '{value[:40]}' ({rule_en})")
    return party_type, value


def _text(value: Any, name: str) -> str:
    if value.__class__ is str:
        return value.strip()  # type: ignore[no-any-return]
    if value is None:
        return ""
    raise RowError(f"{name} moet tekst zijn", f"{name} must be text")


@functools.lru_cache(maxsize=4096)
def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
