"""The administrators' pages at /admin: log in with a password and a second factor, manage
accounts (unlock, reset the second factor), change one's own password and e-mail."""

from broker.admin.views import bp

__all__ = ["bp"]
