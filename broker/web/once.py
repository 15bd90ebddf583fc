"""Forms that create something, made safe to send twice (see :mod:`broker.submissions`).

A form template puts ``{{ submission_field() }}`` inside the form; the view handling its POST
calls :func:`once` with the change to make. The change and the form's mark commit in one
transaction; a second sending of the same form (reload, double click, the way back, or the
same moment in another process) is redirected to the outcome of the first, and a refusal
(:class:`~broker.errors.InputError`) leaves the form free to be sent again, corrected.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeGuard

from flask import Flask
from flask import redirect
from flask import request
from markupsafe import Markup
from markupsafe import escape
from werkzeug.wrappers import Response

from broker import submissions
from broker.db import one_transaction
from broker.errors import InputError
from broker.text import Bilingual
from broker.web.runtime import runtime

EXPIRED_FORM = Bilingual("Dit formulier is verlopen of onvolledig. Open de pagina opnieuw en vul "
                         "het nog eens in.", "This form has expired or is incomplete. Open the "
                         "page again and fill it in once more.")


def init_app(app: Flask) -> None:
    app.add_template_global(submission_field)


def submission_field() -> Markup:
    """The hidden field of a form's submission token: the one it was sent with when the page
    shows the form again after a refusal, else a new one."""
    token = request.form.get(submissions.FIELD) if request.method == "POST" else None
    if not _plausible(token):
        token = submissions.new_token()
    return Markup('<input type="hidden" name="{}" value="{}">').format(
        submissions.FIELD, escape(token))


def once(owner: str, change: Callable[[], str], *, earlier_default: str) -> Response:
    """Make ``change`` (which returns the path where its outcome is shown) once for this form,
    sent by ``owner``, and redirect there (303). A form sent before is redirected to that
    earlier outcome (``earlier_default`` when it left none). An InputError from ``change``
    rolls everything back, the mark included, and propagates for the view to show."""
    token = request.form.get(submissions.FIELD)
    if not _plausible(token):
        raise InputError(EXPIRED_FORM)
    context = runtime().context
    session = context.session()
    with one_transaction(session):
        earlier = submissions.claim(session, token, owner, context.clock())
        if earlier is not None:
            return redirect(earlier or earlier_default, 303)
        outcome = change()
        submissions.done(session, token, owner, outcome)
    return redirect(outcome, 303)


def _plausible(token: str | None) -> TypeGuard[str]:
    return token is not None and 20 <= len(token) <= 64 and token.replace(
        "-", "").replace("_", "").isalnum()
