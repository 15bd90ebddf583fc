"""Each input an independent tester, or the fuzz, found to end in an HTTP 500, answered now as
the sender's error in the endpoint's protocol, with nothing changed.

In the PostgreSQL pass a NUL reached the database and psycopg refused it (DataError); a number
beyond a database integer in a path failed in both passes (SQLite: OverflowError); a raw
non-UTF-8 byte in a query string failed inside werkzeug's ``request.args``; the bulk import
failed on a file that is no UTF-8, a CSV field beyond the csv module's limit and JSON nested
too deep; the demo SP failed on a SAMLResponse pysaml2 cannot parse.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from broker.accounts.realms import login_guard
from broker.register.models import Mandate
from broker.web.database import db
from tests.reliability.conftest import csrf_of

UNREADABLE = "Dit verzoek bevat tekens of gegevens die wij niet kunnen lezen."
UNREADABLE_EN = "This request contains characters or data that we cannot read."
IMPORT_HEADER = ("kind,represented_type,represented,representative_type,representative,"
                 "services,loa,branch,valid_from,valid_until")
OMZET = "ccc77903-dc20-519b-bf8a-35c0b74d02e2"


def _mandates(app: Flask) -> int:
    with app.app_context():
        return len(db.session.execute(select(Mandate.id)).all())


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/machtigen/machtiging/%00x"),
    ("POST", "/machtigen/machtiging/%00/intrekken"),
    ("POST", "/machtigen/organisatie/medewerkers/%00/intrekken"),
    ("POST", "/machtigen/organisatie/keten/%00/intrekken"),
    ("GET", "/mock/digid/login/%00"),
    ("GET", "/flow/%00aaaaaaaaaaaaaaaaaaaaaaaaaaaa/continue"),
])
def test_a_nul_in_a_path_is_refused_as_unreadable_in_dutch_and_english(
        broker: Flask, logged_in: Any, method: str, path: str) -> None:
    before = _mandates(broker)
    response = logged_in.open(path, method=method, data={"csrf_token": csrf_of(logged_in)})
    assert response.status_code == 400 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert UNREADABLE in page
    assert _mandates(broker) == before
    english = logged_in.open(path + "?lang=en", method=method,
                             data={"csrf_token": csrf_of(logged_in)})
    assert UNREADABLE_EN in english.get_data(as_text=True)


@pytest.mark.parametrize("field", ["username", "password"])
def test_a_nul_in_a_login_form_is_refused_and_counts_no_attempt(
        broker: Flask, logged_in: Any, field: str) -> None:
    data = {"csrf_token": csrf_of(logged_in), "username": "beheerder", "password": "wrong"}
    data[field] = data[field][:3] + "\x00" + data[field][3:]
    response = logged_in.post("/admin/inloggen", data=data)
    assert response.status_code == 400 and UNREADABLE in response.get_data(as_text=True)
    with broker.app_context():
        assert login_guard(broker.extensions["broker"].context, "admin").failures(
            "beheerder") == 0


@pytest.mark.parametrize("number", ["2147483648", "99999999999999999999999"])
def test_a_path_number_beyond_a_database_integer_matches_no_route(
        logged_in: Any, number: str) -> None:
    response = logged_in.post(f"/machtigen/organisatie/beheerders/{number}/beeindigen",
                              data={"csrf_token": csrf_of(logged_in)})
    assert response.status_code == 404 and "Deze pagina bestaat niet" in response.get_data(
        as_text=True)


def test_the_largest_database_integer_still_reaches_the_view(logged_in: Any) -> None:
    response = logged_in.post("/machtigen/organisatie/beheerders/2147483647/beeindigen",
                              data={"csrf_token": csrf_of(logged_in)})
    assert response.status_code == 400  # the view: no such administrator role to end


@pytest.mark.parametrize("path", ["/", "/machtigen/", "/oidc/authorize", "/saml/idp/sso"])
def test_a_query_string_with_a_raw_byte_that_is_no_utf8_is_refused(
        broker: Flask, path: str) -> None:
    response = broker.test_client().get(path, environ_overrides={
        "QUERY_STRING": "lang=\xff\xfe"})  # WSGI: the raw bytes, as latin-1
    assert response.status_code == 400 and UNREADABLE in response.get_data(as_text=True)


def test_a_percent_escaped_byte_that_is_no_utf8_is_read_as_a_replacement(broker: Flask) -> None:
    response = broker.test_client().get("/", environ_overrides={"QUERY_STRING": "lang=%ff"})
    assert response.status_code == 200


def test_head_is_answered_as_get_and_makes_no_login_attempt(broker: Flask) -> None:
    """HEAD used to run the POST branch of views that test ``method == "GET"``, without a
    CSRF check: a login attempt counted against the account."""
    response = broker.test_client().open("/admin/inloggen", method="HEAD",
                                         data={"username": "beheerder", "password": "wrong"})
    assert response.status_code == 200 and response.get_data() == b""
    with broker.app_context():
        assert login_guard(broker.extensions["broker"].context, "admin").failures(
            "beheerder") == 0


def _upload(client: Any, content: bytes, name: str = "mandates.csv") -> Any:
    from io import BytesIO

    return client.post("/machtigen/organisatie/importeren", content_type="multipart/form-data",
                       data={"csrf_token": csrf_of(client), "file": (BytesIO(content), name)})


@pytest.mark.parametrize(("content", "name", "message"), [
    (b"\xff\xfe not utf-8", "mandates.csv", "Het bestand is geen UTF-8-tekst"),
    ((IMPORT_HEADER + f"\ncompany,kvk,10000001,pseudonym,emp@bakery,{OMZET},substantial,,"
      "2026-01-01,\ncompany,kvk,10000001,pseudonym,\xe9\n").encode("latin-1"), "mandates.csv",
     "Het bestand is geen UTF-8-tekst"),
    ((IMPORT_HEADER + "\ncompany,kvk," + "1" * 200_000 + ",,,,,,,\n").encode(), "mandates.csv",
     "Regel 2 is geen geldige CSV"),
])
def test_an_upload_that_cannot_be_read_is_refused_whole_and_imports_nothing(
        broker: Flask, logged_in: Any, content: bytes, name: str, message: str) -> None:
    before = _mandates(broker)
    response = _upload(logged_in, content, name)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert _mandates(broker) == before


def test_a_json_line_nested_deeper_than_python_goes_is_a_rejected_row(
        broker: Flask, logged_in: Any) -> None:
    before = _mandates(broker)
    response = _upload(logged_in, b"[" * 100_000 + b"]" * 100_000 + b"\n", "mandates.jsonl")
    assert response.status_code == 200 and "geen geldige JSON" in response.get_data(as_text=True)
    assert _mandates(broker) == before


@pytest.mark.parametrize("saml_response", [
    "PHhtbD4=",  # <xml>: pysaml2's parser raised ParseError
    "====",  # decodes to nothing: pysaml2 raised AttributeError
    base64.b64encode(b"<a>" * 10).decode(),  # never closed: ParseError
])
def test_the_demo_sp_refuses_a_garbage_saml_response_with_its_page(
        broker: Flask, saml_response: str) -> None:
    client = broker.test_client()
    client.get("/demo/saml/metadata")
    response = client.post("/demo/saml/acs", data={"SAMLResponse": saml_response})
    assert response.status_code == 400
    assert "Inloggen niet gelukt" in response.get_data(as_text=True) or \
        "SAML" in response.get_data(as_text=True)


def test_basic_credentials_that_are_no_utf8_get_an_oauth_error(broker: Flask) -> None:
    """authlib decodes HTTP Basic credentials as UTF-8 and fails on other bytes."""
    credentials = base64.b64encode(b"\xff\xfe:secret").decode()
    response = broker.test_client().post(
        "/oidc/token", headers={"Authorization": f"Basic {credentials}"},
        data={"grant_type": "authorization_code", "code": "x"})
    assert response.status_code == 400 and response.mimetype == "application/json"
    assert response.get_json()["error"] == "invalid_request"
    assert response.headers["Cache-Control"] == "no-store"
