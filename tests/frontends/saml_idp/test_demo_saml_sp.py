"""The demo SAML SP: registers itself, logs in through the broker, shows what it received."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from broker.app import csrf
from broker.demo import saml_sp
from broker.demo import views
from broker.frontends.saml_idp import providers
from broker.saml import bindings
from broker.saml import metadata
from broker.web.database import db
from broker.web.runtime import runtime
from tests.fakes import FakeConnector
from tests.frontends.saml_idp.conftest import INKOMSTEN
from tests.frontends.saml_idp.conftest import JAN
from tests.frontends.saml_idp.conftest import citizen
from tests.frontends.saml_idp.conftest import follow
from tests.frontends.saml_idp.conftest import posted_form

DEMO_SP = "http://localhost/demo/saml/metadata"


@pytest.fixture
def demo_app(app: Flask, seeded: None) -> Iterator[Flask]:
    app.register_blueprint(views.bp)
    app.register_blueprint(saml_sp.create_blueprint(runtime().context, csrf))
    yield app


def test_demo_metadata_lists_one_consuming_service_per_catalogue_service(
        demo_app: Flask, client: Any) -> None:
    response = client.get("/demo/saml/metadata")
    assert response.mimetype == "application/samlmetadata+xml"
    read = metadata.read(response.data)
    uuids = [s.requested["urn:nl-eid-gdi:1.0:ServiceUUID"][0]
             for s in read.attribute_consuming_services]
    assert sorted(uuids) == sorted(s.uuid for s in runtime().context.catalogue())
    assert [s.index for s in read.attribute_consuming_services] == list(range(1, len(uuids) + 1))


def test_demo_sp_registers_itself_and_logs_in(demo_app: Flask, client: Any) -> None:
    digid = runtime().connectors["digid"]
    assert isinstance(digid, FakeConnector)
    digid.identity = citizen()
    login = client.get(f"/demo/saml/login?service={INKOMSTEN}")
    assert login.status_code == 303 and "/saml/idp/sso?SAMLRequest=" in login.headers["Location"]
    assert providers.find(db.session(), DEMO_SP) is not None
    page = follow(client, client.get(login.headers["Location"]))
    form = posted_form(page.get_data(as_text=True))
    assert form is not None and form.url == "http://localhost/demo/saml/acs"
    result = client.post("/demo/saml/acs", data=form.fields)
    text = result.get_data(as_text=True)
    assert result.status_code == 200
    assert JAN in text and "Inkomstenbelasting" in text
    assert "urn:nl-eid-gdi:1.0:ActingSubjectID" in text


def test_demo_acs_refuses_replayed_response(demo_app: Flask, client: Any) -> None:
    digid = runtime().connectors["digid"]
    assert isinstance(digid, FakeConnector)
    digid.identity = citizen()
    login = client.get(f"/demo/saml/login?service={INKOMSTEN}")
    form = posted_form(follow(client, client.get(login.headers["Location"])).get_data(
        as_text=True))
    assert form is not None
    assert client.post("/demo/saml/acs", data=form.fields).status_code == 200
    replay = client.post("/demo/saml/acs", data=form.fields)
    assert replay.status_code == 400
    assert JAN not in replay.get_data(as_text=True)


def test_demo_acs_shows_error_status(demo_app: Flask, client: Any) -> None:
    digid = runtime().connectors["digid"]
    assert isinstance(digid, FakeConnector)
    digid.identity = citizen(loa="low")
    login = client.get(f"/demo/saml/login?service={INKOMSTEN}")
    page = follow(client, client.get(login.headers["Location"]))
    form = posted_form(page.get_data(as_text=True))
    assert form is not None
    result = client.post("/demo/saml/acs", data=form.fields)
    text = result.get_data(as_text=True)
    assert result.status_code == 400
    assert "NoAuthnContext" in text
    assert b"NoAuthnContext" in bindings.decode_post(form.fields["SAMLResponse"])


def test_demo_login_for_unknown_service_is_not_found(demo_app: Flask, client: Any) -> None:
    assert client.get("/demo/saml/login?service=nope").status_code == 404
