"""Reading what a person typed into the portal's forms; refusals speak Dutch and English."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from werkzeug.datastructures import MultiDict

from broker.errors import InputError
from broker.register.service import MAX_DAYS
from broker.register.service import MIN_DAYS


def birth_date(form: Mapping[str, str], field: str = "birth_date") -> date:
    try:
        value = date.fromisoformat(form.get(field, "").strip())
    except ValueError:
        raise InputError("Vul een geldige geboortedatum in (dag, maand, jaar).", "Enter a valid "
                         "date of birth (day, month, year).") from None
    if value > date.today() or value.year < 1900:
        raise InputError("Deze geboortedatum kan niet kloppen.", "This date of birth cannot be "
                         "right.")
    return value


def period_days(form: Mapping[str, str], today: date) -> int:
    """Days from today to the chosen end date, within 1 day and 5 years."""
    try:
        until = date.fromisoformat(form.get("valid_until", "").strip())
    except ValueError:
        raise InputError("Vul een geldige einddatum in.", "Enter a valid end date.") from None
    days = (until - today).days
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise InputError("Kies een einddatum tussen morgen en over 5 jaar.", "Choose an end date "
                         "between tomorrow and 5 years from now.")
    return days


def services(form: MultiDict[str, str]) -> list[str]:
    chosen = form.getlist("service")
    if not chosen:
        raise InputError("Kies ten minste één dienst.", "Choose at least one service.")
    return chosen
