"""Levels of assurance: one normalised scale and the URIs each protocol uses for it.

The normalised scale is eIDAS's (low, substantial, high) with DigiD's "basis" below it, since
DigiD basis (password only) sits under eIDAS low. Sources: reference/dutch-mandates.md 1.7, 2.2.
"""

from __future__ import annotations

#: Normalised levels, weakest first.
LEVELS: tuple[str, ...] = ("basic", "low", "substantial", "high")

EIDAS_URI = {
    "basic": "http://eid.logius.nl/LoA/basic",
    "low": "http://eidas.europa.eu/LoA/low",
    "substantial": "http://eidas.europa.eu/LoA/substantial",
    "high": "http://eidas.europa.eu/LoA/high",
}

#: eHerkenning assurance classes (EH2..EH4); EH2+ and EH3 both count as substantial in eIDAS
#: terms, but the broker keeps EH2 at low so that an EH3 service refuses an EH2 login.
ETOEGANG_URI = {
    "low": "urn:etoegang:core:assurance-class:loa2",
    "substantial": "urn:etoegang:core:assurance-class:loa3",
    "high": "urn:etoegang:core:assurance-class:loa4",
}

#: Names a person sees, in Dutch and English, for pages and the mock identity providers.
DIGID_LEVEL_NAMES = {"basic": "basis", "low": "midden", "substantial": "substantieel", "high": "hoog"}

_FROM_URI = {uri.lower(): level for level, uri in EIDAS_URI.items()} | {
    uri.lower(): level for level, uri in ETOEGANG_URI.items()
}


def is_level(value: str) -> bool:
    return value in LEVELS


def rank(level: str) -> int:
    """Position on the scale; raises ValueError for a level that is not on it."""
    return LEVELS.index(level)


def meets(level: str, minimum: str) -> bool:
    """True when ``level`` is at least ``minimum``."""
    return rank(level) >= rank(minimum)


def from_uri(uri: str) -> str | None:
    """The normalised level of an eIDAS, Logius or eTD URI (case-insensitive), or None."""
    return _FROM_URI.get(uri.strip().lower())


def highest(levels: list[str]) -> str | None:
    return max(levels, key=rank) if levels else None
