"""The second factor: TOTP (RFC 6238, via pyotp) and one-time backup codes.

TOTP secrets are 160 bits (pyotp's default), shown as a QR code (an ``otpauth://`` URI drawn as
inline SVG by ``qrcode``, no image library needed) and as text to type in. A code is accepted
for the current time step and one step either side, and never twice: the last accepted step is
remembered. Backup codes are ten random codes of ten characters (50 bits) from an alphabet
without look-alikes; only their HMAC-SHA256 under the broker's secret key is stored, which is
enough for random codes of that length behind a lockout (a memory-hard hash is for passwords,
which people choose).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
from datetime import datetime

import pyotp
import qrcode
import qrcode.image.svg

BACKUP_CODE_COUNT = 10
_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/o, 1/l/i
_BACKUP_LENGTH = 10
ISSUER = "Machtigingenbroker"


def new_totp_secret() -> str:
    return pyotp.random_base32()  # type: ignore[no-any-return]


def provisioning_uri(secret: str, username: str, issuer: str = ISSUER) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)  # type: ignore[no-any-return]


def qr_svg(uri: str) -> str:
    """The URI as an SVG QR code (markup to put inline in a page)."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    text = buffer.getvalue().decode()
    return text[text.index("<svg"):]  # without the XML declaration


def grouped(secret: str) -> str:
    """The secret in groups of four, to type in by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def accepted_step(secret: str, code: str, moment: datetime, last_step: int) -> int | None:
    """The time step ``code`` is right for (now, or one step either side), provided that it is
    later than ``last_step``; None otherwise."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not (code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    now_step = totp.timecode(moment)
    for step in (now_step - 1, now_step, now_step + 1):
        if step > last_step and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def new_backup_codes() -> list[str]:
    return ["".join(secrets.choice(_ALPHABET) for _ in range(_BACKUP_LENGTH))
            for _ in range(BACKUP_CODE_COUNT)]


def shown(code: str) -> str:
    """A backup code as printed: two groups of five."""
    return f"{code[:5]}-{code[5:]}"


def backup_code_hash(code: str, key: str) -> str:
    """The stored form of a backup code, however it was typed (case, dashes, spaces)."""
    normal = code.strip().lower().replace("-", "").replace(" ", "")
    return hmac.new(key.encode(), normal.encode(), hashlib.sha256).hexdigest()
