"""The demo relying party's front page: one button per service and protocol."""

from __future__ import annotations

from flask import Blueprint
from flask import render_template

from broker.web.runtime import runtime

bp = Blueprint("demo", __name__, url_prefix="/demo")


@bp.get("/")
def index() -> str:
    return render_template("demo/index.html", services=list(runtime().context.catalogue()))
