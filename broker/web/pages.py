"""The broker's front page: what it is and where relying parties integrate."""

from __future__ import annotations

from flask import Blueprint
from flask import render_template

from broker.web.runtime import runtime

bp = Blueprint("pages", __name__)


@bp.get("/")
def home() -> str:
    rt = runtime()
    return render_template("home.html", settings=rt.context.settings,
                           frontends=rt.frontends, connectors=rt.connectors,
                           services=list(rt.context.catalogue()))
