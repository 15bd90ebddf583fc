"""The demo: mock identity providers and demo relying parties inside the broker's process.

Mounted only when ``broker.demo = true``; everything here is for people trying the broker.
"""

from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from broker.components import SamlServiceProvider
from broker.demo.seed import seed
from broker.web.database import db
from broker.web.runtime import Runtime


def mount(app: Flask, runtime: Runtime, csrf: CSRFProtect) -> None:
    from broker.demo import oidc_rp
    from broker.demo import saml_sp
    from broker.demo import views
    from broker.mock_idp.digid import create_mock_digid
    from broker.mock_idp.eherkenning import create_mock_eherkenning

    def service_providers() -> list[bytes]:
        return [c.sp_metadata() for c in runtime.connectors.values() if isinstance(c, SamlServiceProvider)]

    seed(db.session())
    app.register_blueprint(create_mock_digid(runtime.context, csrf, service_providers))
    app.register_blueprint(create_mock_eherkenning(runtime.context, csrf, service_providers))
    app.register_blueprint(views.bp)
    app.register_blueprint(oidc_rp.create_blueprint(runtime.context, csrf))
    app.register_blueprint(saml_sp.create_blueprint(runtime.context, csrf))
