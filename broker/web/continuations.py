"""The login's answers as HTTP: a :class:`Continuation` as a redirect or an auto-submitted form,
and a new login begun from a frontend's or portal's view.

Frontends, portals and mock identity providers use this module, never the flow's views.
"""

from __future__ import annotations

from typing import Any

from flask import make_response
from flask import redirect
from flask import render_template
from flask import url_for
from werkzeug.wrappers import Response

from broker.context import Continuation
from broker.login import Upstream
from broker.login import UpstreamChoice
from broker.services import Service
from broker.web import security
from broker.web.runtime import runtime


def render_continuation(continuation: Continuation) -> Response:
    if continuation.method == "GET":
        return redirect(continuation.url, 303)
    return make_response(render_template("flow/post.html", continuation=continuation))


def begin(*, frontend: str, requester: str, requester_name: str, service: Service, min_loa: str,
          return_to: str, request_data: dict[str, Any], upstream_hint: str | None = None,
          force_authn: bool = False, max_age: int | None = None) -> Response:
    """Start a flow for a validated request (see :meth:`Login.begin`) and send the browser on
    to authenticate, bound to this browser by its cookie (set here when it had none)."""
    binding = security.browser_binding() or security.new_binding()
    after = runtime().login.begin(
        browser_binding=binding, frontend=frontend, requester=requester,
        requester_name=requester_name, service=service, min_loa=min_loa, return_to=return_to,
        request_data=request_data, upstream_hint=upstream_hint, force_authn=force_authn,
        max_age=max_age)
    response = (make_response(after.answer) if isinstance(after, Upstream)
                else upstream_page(after))
    security.ensure_browser_binding(response, binding)
    return response


def upstream_page(choice: UpstreamChoice) -> Response:
    """To the page where the person chooses how to log in."""
    return redirect(url_for("flow.upstream", flow_id=choice.flow.id), 303)

