"""Accounts with a second factor: passwords (argon2), TOTP (RFC 6238) with backup codes,
lockout after wrong attempts, and rate limits per account and per address.

The core here has no Flask imports; :mod:`broker.admin` is the web adapter for the broker's
administrator accounts, and the mock identity providers use :class:`LoginGuard` for theirs.
"""
