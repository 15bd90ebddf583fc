"""Dutch first, English on request: ``?lang=en`` sets a cookie that later pages follow.

Pages are short and bilingual text sits side by side in templates as ``t("…nl…", "…en…")``,
so a translator sees both at once; no message catalogue to compile.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask
from flask import Response
from flask import g
from flask import request

from broker.web import security

LANGUAGES = ("nl", "en")
COOKIE = "broker_lang"


def init_app(app: Flask) -> None:
    app.before_request(_choose_language)
    app.after_request(_remember_language)
    app.jinja_env.globals["t"] = translate
    app.jinja_env.globals["lang"] = current_language
    app.jinja_env.filters["level_name"] = level_name
    app.jinja_env.filters["local"] = local_time


def current_language() -> str:
    return str(g.get("lang", "nl"))


def translate(nl: str, en: str) -> str:
    return en if current_language() == "en" else nl


_LEVEL_NAMES = {
    "basic": ("basis", "basic"),
    "low": ("laag (DigiD midden, eHerkenning EH2)", "low (DigiD midden, eHerkenning EH2)"),
    "substantial": ("substantieel (DigiD substantieel, eHerkenning EH3)",
                    "substantial (DigiD substantieel, eHerkenning EH3)"),
    "high": ("hoog (DigiD hoog, eHerkenning EH4)", "high (DigiD hoog, eHerkenning EH4)"),
}


def level_name(level: str) -> str:
    """A level of assurance as people know it, in the current language."""
    nl, en = _LEVEL_NAMES.get(level, (level, level))
    return translate(nl, en)


#: Times people see are Dutch wall-clock time; the database keeps UTC.
DISPLAY_ZONE = ZoneInfo("Europe/Amsterdam")


def local_time(moment: datetime | None, fmt: str = "%d-%m-%Y %H:%M") -> str:
    """``moment`` (UTC, naive from SQLite or aware) as Amsterdam time in ``fmt``."""
    if moment is None:
        return ""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(DISPLAY_ZONE).strftime(fmt)


def _choose_language() -> None:
    """Before any other check, so that even a refused request is answered in the language
    asked for; a query string werkzeug cannot read asks for none."""
    try:
        asked = request.args.get("lang")
    except UnicodeDecodeError:
        asked = None
    if asked in LANGUAGES:
        g.lang, g.lang_changed = asked, True
    else:
        chosen = security.get_cookie(COOKIE)
        g.lang = chosen if chosen in LANGUAGES else "nl"


def _remember_language(response: Response) -> Response:
    if g.get("lang_changed"):
        security.set_cookie(response, COOKIE, g.lang, max_age=365 * 86400)
    return response
