"""Dutch identifiers and their checks (reference/dutch-mandates.md section 6).

BSN and RSIN: nine digits passing the 11-test (weights 9..2 and -1), never all zeros.
KvK number: exactly eight digits, no check digit. Branch number: exactly twelve digits.
"""

from __future__ import annotations

from broker.errors import InputError

#: the weights are 9..2 and -1, which sum to 43; an ASCII digit's byte is 48 more than its value
_ZERO_OFFSET = 48 * 43


def passes_eleven_test(value: str) -> bool:
    if len(value) != 9 or not (value.isascii() and value.isdigit()):  # not "９９９…" or "²"
        return False
    b = value.encode("ascii")
    total = (9 * b[0] + 8 * b[1] + 7 * b[2] + 6 * b[3] + 5 * b[4] + 4 * b[5] + 3 * b[6]
             + 2 * b[7] - b[8] - _ZERO_OFFSET)  # written out: the import checks millions
    return total % 11 == 0 and total != 0


def is_bsn(value: str) -> bool:
    return passes_eleven_test(value)


def is_rsin(value: str) -> bool:
    return passes_eleven_test(value)


def is_kvk(value: str) -> bool:
    return len(value) == 8 and value.isascii() and value.isdigit()


def is_branch_number(value: str) -> bool:
    return len(value) == 12 and value.isascii() and value.isdigit()


def clean(value: str) -> str:
    """Digits as typed by a person: spaces, dots and dashes removed."""
    return value.strip().replace(" ", "").replace(".", "").replace("-", "")


def require_bsn(value: str) -> str:
    """The cleaned BSN, or InputError with a message for the person who typed it."""
    cleaned = clean(value)
    if not is_bsn(cleaned):
        raise InputError("Dit is geen geldig burgerservicenummer (BSN): het moet 9 cijfers "
                         "hebben en de elfproef doorstaan.", "This is not a valid citizen service "
                         "number (BSN): it needs 9 digits and must pass the 11-test.")
    return cleaned
