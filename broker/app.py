"""The application factory: the one place where configuration becomes a running broker."""

from __future__ import annotations

import logging
import secrets
import traceback
from pathlib import Path

from flask import Flask
from flask import make_response
from flask import render_template
from flask_wtf.csrf import CSRFError
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

from broker import admin
from broker import housekeeping
from broker import registry
from broker import schema
from broker.clock import utcnow
from broker.components import Components
from broker.components import Routed
from broker.config import Settings
from broker.config_cache import ConfigCache
from broker.context import BrokerContext
from broker.db import is_embedded
from broker.db import sqlalchemy_url
from broker.errors import BrokerError
from broker.errors import ConfigError
from broker.flow import Flows
from broker.journal import LoginJournal
from broker.services import ORG_PORTAL_SERVICE
from broker.services import PORTAL_SERVICE
from broker.state import open_store
from broker.web import answers
from broker.web import failures
from broker.web import health
from broker.web import i18n
from broker.web import input_guard
from broker.web import once
from broker.web import pages
from broker.web import security
from broker.web.database import db
from broker.web.flow_views import bp as flow_bp
from broker.web.flow_views import handle_broker_error
from broker.web.flow_views import handle_http_error
from broker.web.runtime import Runtime

log = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parent.parent
csrf = CSRFProtect()


def create_app(settings: Settings, components: Components | None = None) -> Flask:
    """Build the broker for ``settings``: database, state, components, pages.

    The components the config names are found among the installed entry points and the
    types in ``components`` (see :class:`broker.components.Components`)."""
    app = Flask("broker", template_folder=str(PROJECT_ROOT / "templates"),
                static_folder=str(PROJECT_ROOT / "static"), instance_path=str(
                    settings.instance_path.resolve()))
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=sqlalchemy_url(settings.database_url),
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings.database_url),
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=settings.flow_lifetime_seconds,
        WTF_CSRF_SSL_STRICT=False,
    )
    if settings.trust_proxy:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    _silence_libraries_that_log_personal_data()
    i18n.init_app(app)  # first: refusals are answered in the language asked for
    input_guard.init_app(app)  # then: before CSRF reads the form, before any route exists
    db.init_app(app)
    schema.init_app(app)
    csrf.init_app(app)
    once.init_app(app)
    security.init_app(app, https=settings.secure_cookies)
    with app.app_context():
        schema.ensure_current(upgrade_embedded=is_embedded(settings.database_url))
        context = _context(settings)
        runtime = Runtime(context=context, connectors={}, frontends={}, plugins={})
        app.extensions["broker"] = runtime
        _mount_components(app, runtime, settings, components or Components())
        _mount_portal(app, runtime)
        if settings.demo:
            _mount_demo(app, runtime)
    _schedule_housekeeping(app, runtime)
    app.register_blueprint(flow_bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(health.bp)
    _answer_errors(app)
    return app


#: Libraries that log whole SAML documents (BSNs included) at DEBUG; an operator turning on
#: debug logging must not thereby write personal data to an ordinary log (catalogue WEB-12).
_CHATTY_LIBRARIES = ("signxml", "saml2", "xmlschema")


def _silence_libraries_that_log_personal_data() -> None:
    for name in _CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)


def _context(settings: Settings) -> BrokerContext:
    store = open_store(settings, lambda: db.session())
    flows = Flows(store, lifetime=settings.flow_lifetime_seconds,
                  journal=LoginJournal(lambda: db.session(), utcnow))
    return BrokerContext(settings=settings, store=store, flows=flows, session=lambda: db.session(),
                         config=ConfigCache(max_age=settings.config_cache_seconds))


def _schedule_housekeeping(app: Flask, runtime: Runtime) -> None:
    """Sweep (see :mod:`broker.housekeeping`) every ``housekeeping_seconds`` in this process,
    after a response has been sent, so that no request waits for it."""
    schedule = housekeeping.Schedule(runtime.context.settings.housekeeping_seconds,
                                     lambda: _sweep(app, runtime))

    def after(response: Response) -> Response:
        if schedule.due():
            response.call_on_close(schedule.run_if_due)
        return response

    app.after_request(after)


def _sweep(app: Flask, runtime: Runtime) -> None:
    with app.app_context():
        context = runtime.context
        swept = housekeeping.sweep(context.session, context.store, context.clock)
        if swept.abandoned:
            log.info("housekeeping: %d abandoned login(s) recorded", swept.abandoned)


def _mount_components(app: Flask, runtime: Runtime, settings: Settings,
                      components: Components) -> None:
    runtime.connectors.update(registry.build(
        registry.CONNECTORS, "connectors", settings.connectors, runtime.context,
        components.connectors))
    for name, connector in runtime.connectors.items():
        if connector.is_mock and not settings.allow_mock_connectors:
            raise ConfigError(f"connectors.{name}: mock connector refused; set "
                              "broker.allow_mock_connectors = true only outside production")
        app.register_blueprint(connector.blueprint, url_prefix=f"/connect/{name}")
        csrf.exempt(connector.blueprint)
    runtime.frontends.update(registry.build(
        registry.FRONTENDS, "frontends", settings.frontends, runtime.context,
        components.frontends))
    for frontend in runtime.frontends.values():
        app.register_blueprint(frontend.blueprint)
        csrf.exempt(frontend.blueprint)
    runtime.plugins.update(registry.build(
        registry.PLUGINS, "plugins", settings.plugins, runtime.context, components.plugins))
    for plugin in runtime.plugins.values():
        if isinstance(plugin, Routed):
            app.register_blueprint(plugin.blueprint)


def _mount_portal(app: Flask, runtime: Runtime) -> None:
    """The mandate portal, logged in to through the broker's own flow as an internal frontend."""
    from broker.portal import organisation
    from broker.portal import views
    from broker.portal.frontend import PortalFrontend

    if "portal" in runtime.frontends:
        raise ConfigError("frontends.portal: the name 'portal' is reserved for the mandate portal")
    runtime.frontends["portal"] = PortalFrontend(runtime.context)
    runtime.internal_services[PORTAL_SERVICE.uuid] = PORTAL_SERVICE
    app.register_blueprint(views.bp)
    if organisation.FRONTEND in runtime.frontends:
        raise ConfigError(f"frontends.{organisation.FRONTEND}: the name is reserved for the "
                          "organisation portal")
    runtime.frontends[organisation.FRONTEND] = PortalFrontend(
        runtime.context, name=organisation.FRONTEND, path="/machtigen/organisatie")
    runtime.internal_services[ORG_PORTAL_SERVICE.uuid] = ORG_PORTAL_SERVICE
    app.register_blueprint(organisation.bp)


def _mount_demo(app: Flask, runtime: Runtime) -> None:
    """The mock identity providers and the demo relying parties, for ``broker demo``."""
    from broker.demo import mount

    mount(app, runtime, csrf)


def _engine_options(url: str) -> dict[str, object]:
    if is_embedded(url):
        return {"connect_args": {"timeout": 15, "check_same_thread": False}}
    return {"pool_pre_ping": True}


# -- errors: every one answered in the endpoint's protocol (broker.web.answers) ---------------


def _answer_errors(app: Flask) -> None:
    """The error handlers. A failure of the database or Redis, a value the database refuses
    and a body the server cannot frame each mean one :class:`BrokerError` (see
    :mod:`broker.web.failures`) and are answered like one; anything else is a bug (500)."""
    app.register_error_handler(BrokerError, _handle_broker_error)
    app.register_error_handler(CSRFError, _handle_csrf_error)
    app.register_error_handler(HTTPException, _handle_http_error)
    for failure in failures.TRANSLATED:
        app.register_error_handler(failure, _handle_library_failure)
    app.register_error_handler(Exception, _handle_unexpected)


def _handle_broker_error(error: BrokerError) -> Response:
    """A page (with the relying party's answer where a flow is known) or OAuth JSON."""
    if answers.current_answer() is not answers.Answer.PAGE:
        log.warning("error %s: %s: %s", secrets.token_hex(6), type(error).__name__, error.detail)
    return answers.for_broker_error(error, page=lambda: handle_broker_error(error))


def _handle_library_failure(failure: Exception) -> Response:
    """The database, Redis or gunicorn failed in a way that has a meaning for the request."""
    error = failures.as_broker_error(failure)
    if error is None:
        return _handle_unexpected(failure)
    failures.roll_back(db.session())  # a failed statement leaves its transaction broken
    return _handle_broker_error(error)


def _handle_http_error(error: HTTPException) -> Response:
    return answers.for_http_error(error, page=lambda: handle_http_error(error))


def _handle_csrf_error(error: CSRFError) -> Response:
    def page() -> Response:
        return make_response(render_template(
            "error.html", error=None, http_error=error, csrf_failed=True,
            error_id=secrets.token_hex(6), continuation=None, flow=None), 400)
    return answers.error_response(400, oidc_error="invalid_request",
                                  description="The CSRF token is missing or invalid.", page=page)


def _handle_unexpected(error: Exception) -> Response:
    """A bug: log where it happened (no message, which might hold personal data), answer."""
    error_id = secrets.token_hex(6)
    frame = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    log.error("error %s: unexpected %s at %s:%s", error_id, type(error).__name__,
              frame.filename if frame else "?", frame.lineno if frame else "?")
    failures.roll_back(db.session())

    def page() -> Response:
        return make_response(render_template("error.html", error=None, http_error=None,
                                             error_id=error_id, continuation=None, flow=None),
                             500)
    return answers.error_response(500, oidc_error="server_error",
                                  description="An unexpected error occurred.", page=page)
