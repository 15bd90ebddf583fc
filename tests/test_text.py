"""Bilingual messages: two halves kept apart, shown together as "Dutch / English"."""

from __future__ import annotations

import pickle

import pytest

from broker.errors import InputError
from broker.register.bulk_import import Rejection
from broker.register.bulk_import import RowError
from broker.register.service import RegisterError
from broker.text import Bilingual


def test_bilingual_shows_both_halves_dutch_first() -> None:
    assert str(Bilingual("Kies een bestand.", "Choose a file.")) == "Kies een bestand. / Choose a file."


def test_a_half_holding_the_separator_keeps_both_halves() -> None:
    error = InputError("Map a / b bestaat niet.", "Folder a / b does not exist.")
    assert (error.nl, error.en) == ("Map a / b bestaat niet.", "Folder a / b does not exist.")
    assert str(error) == "Map a / b bestaat niet. / Folder a / b does not exist."


def test_input_error_from_halves_or_from_one_bilingual_is_the_same() -> None:
    text = Bilingual("Onbekende actie.", "Unknown action.")
    for error in (InputError(text), InputError("Onbekende actie.", "Unknown action."),
                  RegisterError(text), RowError(text)):
        assert (error.text, error.nl, error.en, str(error)) == (
            text, "Onbekende actie.", "Unknown action.", "Onbekende actie. / Unknown action.")


def test_input_error_needs_both_halves() -> None:
    with pytest.raises(TypeError):
        InputError("Alleen Nederlands.")  # type: ignore[call-overload]


def test_input_error_survives_pickling_with_its_halves() -> None:
    again = pickle.loads(pickle.dumps(RegisterError("a / b", "c")))
    assert type(again) is RegisterError and (again.nl, again.en) == ("a / b", "c")


def test_rejection_reads_its_reason_in_each_language() -> None:
    rejection = Rejection(3, Bilingual("geen dienst opgegeven", "no service given"))
    assert (rejection.reason, rejection.reason_nl) == ("no service given", "geen dienst opgegeven")
