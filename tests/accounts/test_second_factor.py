"""TOTP codes (RFC 6238) and backup codes."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pyotp

from broker.accounts import second_factor

MOMENT = datetime(2026, 11, 23, 12, 0, 15, tzinfo=UTC)


def test_code_of_this_step_or_one_either_side_is_accepted_once() -> None:
    secret = second_factor.new_totp_secret()
    totp = pyotp.TOTP(secret)
    step = totp.timecode(MOMENT)
    for offset in (-1, 0, 1):
        code = totp.generate_otp(step + offset)
        assert second_factor.accepted_step(secret, code, MOMENT, 0) == step + offset
        assert second_factor.accepted_step(secret, code, MOMENT, step + offset) is None
    assert second_factor.accepted_step(secret, totp.generate_otp(step + 2), MOMENT, 0) is None
    assert second_factor.accepted_step(secret, totp.generate_otp(step - 2), MOMENT, 0) is None


def test_malformed_codes_are_refused() -> None:
    secret = second_factor.new_totp_secret()
    for code in ("", "12345", "1234567", "12a456", "１２３４５６"):
        assert second_factor.accepted_step(secret, code, MOMENT, 0) is None


def test_secret_has_160_bits_and_the_uri_names_issuer_and_account() -> None:
    secret = second_factor.new_totp_secret()
    assert len(secret) == 32
    uri = second_factor.provisioning_uri(secret, "beheerder")
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert parse_qs(parts.query)["secret"] == [secret]
    assert parse_qs(parts.query)["issuer"] == [second_factor.ISSUER]


def test_qr_code_is_inline_svg() -> None:
    svg = second_factor.qr_svg("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP")
    assert svg.startswith("<svg") and "<path" in svg and "<?xml" not in svg


def test_ten_backup_codes_of_fifty_bits_without_look_alikes() -> None:
    codes = second_factor.new_backup_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(len(code) == 10 and not set(code) & set("01ilo") for code in codes)


def test_backup_code_hash_ignores_case_dashes_and_spaces_but_needs_the_key() -> None:
    code = "abcde23456"
    stored = second_factor.backup_code_hash(code, "key")
    assert second_factor.backup_code_hash(" ABCDE-23456 ", "key") == stored
    assert second_factor.backup_code_hash(code, "other key") != stored
    assert code not in stored


def test_totp_code_from_the_future_beyond_one_step_is_refused() -> None:
    secret = second_factor.new_totp_secret()
    later = pyotp.TOTP(secret).at(MOMENT + timedelta(seconds=90))
    assert second_factor.accepted_step(secret, later, MOMENT, 0) is None
