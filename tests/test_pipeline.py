"""gather: every source's options once, in the chooser's order, and the memo that the sources of
one lookup share (and nobody outside it)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any

import pytest

from broker.identity import Identity
from broker.identity import Link
from broker.identity import Party
from broker.pipeline import Option
from broker.pipeline import gather
from broker.pipeline import lookup_memo
from broker.services import Service

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
FATIMA = Identity(acting=Party(id="999990676", id_type="bsn"), loa="substantial",
                  connector="digid", authn_instant=NOW)
SERVICE = Service(uuid="92a383fd-f732-5aaf-af23-d9acf46c4c3a", name="Inkomstenbelasting",
                  via="digid", min_loa="substantial", accepts=("voluntary",))


def _option(source: str, *parties: tuple[str, str | None]) -> Option:
    return Option(links=tuple(Link(party=Party(id=id_, id_type="bsn", name=name),
                                   mandate_id=f"m-{id_}", kind="voluntary")
                              for id_, name in parties), source=source)


class _Source:
    def __init__(self, name: str, options: list[Option], *, fail: bool = False) -> None:
        self.name, self._options, self._fail = name, options, fail
        self.memos: list[dict[Any, Any] | None] = []

    def options(self, identity: Identity, service: Service, now: datetime) -> list[Option]:
        memo = lookup_memo()
        self.memos.append(memo)
        if memo is not None:
            memo[self.name] = len(memo)
        if self._fail:
            raise RuntimeError("the register is down")
        return self._options


def test_options_come_once_each_ordered_by_name_then_parties() -> None:
    """The first source to offer a chain of parties wins; no name sorts first; case is ignored
    in names and the parties decide between equal names."""
    first = _Source("a", [_option("a", ("2", "bert")), _option("a", ("1", "Anna"))])
    second = _Source("b", [_option("b", ("1", "Anna")), _option("b", ("3", None)),
                           _option("b", ("0", "anna")), _option("b", ("9", "Zoë"), ("1", "Anna"))])
    options = gather([first, second], FATIMA, SERVICE, NOW)
    assert [(o.key, o.source) for o in options] == [
        ("bsn:3", "b"), ("bsn:0", "b"), ("bsn:1", "a"), ("bsn:9/bsn:1", "b"), ("bsn:2", "a")]


def test_the_sources_of_one_lookup_share_one_memo_and_the_next_lookup_a_new_one() -> None:
    first, second = _Source("a", []), _Source("b", [])
    gather([first, second], FATIMA, SERVICE, NOW)
    assert first.memos[0] is second.memos[0] == {"a": 0, "b": 1}
    gather([first, second], FATIMA, SERVICE, NOW)
    assert first.memos[1] is second.memos[1] == {"a": 0, "b": 1}
    assert first.memos[1] is not first.memos[0]


def test_there_is_no_memo_outside_a_lookup_not_even_after_a_source_failed() -> None:
    assert lookup_memo() is None
    with pytest.raises(RuntimeError):
        gather([_Source("a", []), _Source("b", [], fail=True)], FATIMA, SERVICE, NOW)
    assert lookup_memo() is None
