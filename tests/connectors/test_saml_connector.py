"""The SAML connector's ACS: every refusal leaves the flow unauthenticated; a good answer
authenticates it with the BSN and level the IdP asserted."""

from __future__ import annotations

import logging
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
from flask import Flask
from lxml import etree

from broker.connectors.saml import SamlConnector
from broker.errors import InsufficientLoaError
from broker.errors import UpstreamCancelledError
from broker.errors import UpstreamError
from broker.errors import UpstreamResponseError
from broker.flow import flow_key
from broker.frontends.saml_idp import sso
from broker.keys import generate
from broker.loa import EIDAS_URI
from broker.mock_idp import engine
from broker.mock_idp.digid import ENTITY_ID
from broker.mock_idp.digid import mock_digid_metadata
from broker.saml import bindings
from broker.saml import messages
from broker.saml import metadata
from broker.saml.xml import SAML
from broker.saml.xml import SAMLP
from broker.saml.xml import parse
from tests.mock_idp.support import ACS
from tests.mock_idp.support import BINDING
from tests.mock_idp.support import JAN_BSN
from tests.mock_idp.support import SP_ENTITY
from tests.mock_idp.support import SSO
from tests.mock_idp.support import assert_not_authenticated
from tests.mock_idp.support import craft
from tests.mock_idp.support import flow_state
from tests.mock_idp.support import mock_key
from tests.mock_idp.support import open_login
from tests.mock_idp.support import post_response
from tests.mock_idp.support import posted_fields
from tests.mock_idp.support import resign
from tests.mock_idp.support import runtime_of
from tests.mock_idp.support import start_flow
from tests.mock_idp.support import stub
from tests.mock_idp.support import submit_login

SUBCONF_DATA = f"{SAML}Subject/{SAML}SubjectConfirmation/{SAML}SubjectConfirmationData"


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _refused(app: Flask, flow_id: str, document: bytes,
             error: type[UpstreamError] | type[InsufficientLoaError] = UpstreamResponseError,
             detail: str | None = None) -> None:
    """POST ``document`` to the ACS; assert the refusal, its kind, and that nothing changed:
    no authentication, the flow still waiting with its request id unused, the relying party
    not told (an unverified message must not end the person's login)."""
    handler = _Recorder()
    records = handler.records
    logger = logging.getLogger("broker.web.flow_views")
    logger.addHandler(handler)
    try:
        response = post_response(app.test_client(), document)
    finally:
        logger.removeHandler(handler)
    assert response.status_code in (400, 403, 502)
    assert "Location" not in response.headers
    assert_not_authenticated(app, flow_id)
    assert flow_state(app, flow_id) == "upstream"
    assert stub(app).errors == []
    logged = " ".join(record.getMessage() for record in records)
    assert error.__name__ in logged
    if detail:
        assert detail in logged


def _refused_after_verification(app: Flask, flow_id: str, document: bytes,
                                error: type[Exception] = UpstreamResponseError,
                                detail: str | None = None) -> None:
    """A verified answer the broker still refuses: the request id is used up, the flow ends and
    the relying party is told, with the error."""
    response = post_response(app.test_client(), document)
    assert response.status_code in (303, 400, 403, 502)
    assert "/flow/" not in response.headers.get("Location", "")
    assert_not_authenticated(app, flow_id)
    errors = stub(app).errors
    assert errors and isinstance(errors[-1], error)
    assert flow_state(app, flow_id) is None
    if detail:
        assert detail in errors[-1].detail


# -- start and metadata ----------------------------------------------------------------------


def test_start_sends_signed_authn_request_for_flow_level(app: Flask) -> None:
    started = start_flow(app, min_loa="substantial")
    assert started.location.startswith(SSO + "?")
    query = urlsplit(started.location).query
    sp_key = runtime_of(app).context.key("connector-digid")
    document, _ = bindings.decode_redirect(query, "SAMLRequest", [sp_key.certificate])
    request = messages.read_authn_request(document, now=datetime.now(UTC), skew=60)
    assert request.id == started.request_id
    assert request.issuer == SP_ENTITY and request.acs_url == ACS and request.destination == SSO
    assert request.requested_contexts == (EIDAS_URI["substantial"],)
    assert request.comparison == "minimum"
    assert flow_state(app, started.flow_id) == "upstream"
    assert "Signature" in parse_qs(query)


def test_sp_metadata_is_signed_with_connector_key(app: Flask) -> None:
    response = app.test_client().get("/connect/digid/metadata")
    assert response.status_code == 200
    sp_key = runtime_of(app).context.key("connector-digid")
    entity = metadata.read(response.data, trusted=[sp_key.certificate])
    assert entity.entity_id == SP_ENTITY
    assert entity.default_acs() is not None and entity.default_acs().location == ACS  # type: ignore[union-attr]
    assert entity.authn_requests_signed


def test_connector_reads_metadata_from_file(app: Flask, tmp_path: Path) -> None:
    context = runtime_of(app).context
    path = tmp_path / "idp.xml"
    path.write_bytes(mock_digid_metadata(context))
    connector = SamlConnector(name="file", context=context, label="Other", metadata=str(path),
                              idp_entity_id=ENTITY_ID)
    assert connector.idp.entity_id == ENTITY_ID and connector.sso_url == SSO
    assert connector.is_mock is False


def test_connector_wrong_idp_entity_id_is_refused(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "idp.xml"
    path.write_bytes(mock_digid_metadata(runtime_of(app).context))
    with pytest.raises(ValueError, match="idp_entity_id"):
        SamlConnector(name="file", context=runtime_of(app).context, label="x",
                      metadata=str(path), idp_entity_id="urn:other")


def test_connector_plain_http_metadata_url_is_refused(app: Flask) -> None:
    with pytest.raises(ValueError, match="loopback"):
        SamlConnector(name="remote", context=runtime_of(app).context, label="x",
                      metadata="http://idp.example.com/metadata")


def test_connector_without_metadata_is_refused(app: Flask) -> None:
    with pytest.raises(ValueError, match="metadata"):
        SamlConnector(name="none", context=runtime_of(app).context, label="x")


# -- success ---------------------------------------------------------------------------------


def test_acs_valid_response_authenticates_flow(app: Flask) -> None:
    started = start_flow(app)
    response = post_response(app.test_client(), craft(app, started.request_id))
    assert response.status_code == 303
    assert response.location.endswith(f"/flow/{started.flow_id}/continue")
    assert flow_state(app, started.flow_id) == "authenticated"
    with app.app_context():
        data = runtime_of(app).context.store.get(flow_key(started.flow_id))
    assert data is not None
    identity = data["identity"]
    assert identity["acting"] == {"id": JAN_BSN, "id_type": "bsn", "name": None}
    assert identity["loa"] == "substantial" and identity["connector"] == "digid"
    assert identity["upstream_issuer"] == ENTITY_ID


def test_acs_classic_digid_name_id_is_tolerated(app: Flask) -> None:
    started = start_flow(app)
    document = craft(app, started.request_id, name_id=f"s00000000:{JAN_BSN}", attributes=False)
    assert post_response(app.test_client(), document).status_code == 303
    assert flow_state(app, started.flow_id) == "authenticated"


def test_whole_login_at_mock_digid_reaches_the_frontend(app: Flask) -> None:
    client = app.test_client()
    started = start_flow(app)
    login_url, token = open_login(client, started.location)
    answer = submit_login(client, login_url, token, "jan",
                          code=engine.totp("JBSWY3DPEHPK3PXP", datetime.now(UTC)))
    _, fields = posted_fields(answer.text)
    client.set_cookie("broker_browser", BINDING)
    landed = client.post("/connect/digid/acs", data=fields)
    assert landed.status_code == 303
    finished = client.get(landed.location)
    assert finished.status_code == 200 and "https://rp.example/acs" in finished.text
    [identity] = stub(app).identities
    assert identity.acting.id == JAN_BSN and identity.loa == "substantial"


# -- refusals --------------------------------------------------------------------------------


def test_acs_unsigned_response_is_refused(app: Flask) -> None:
    started = start_flow(app)
    document = resign(craft(app, started.request_id), None)
    _refused(app, started.flow_id, document, detail="not signed")


def test_acs_tampered_response_is_refused(app: Flask) -> None:
    started = start_flow(app)
    document = craft(app, started.request_id).replace(JAN_BSN.encode(), b"999990676")
    assert b"999990676" in document
    _refused(app, started.flow_id, document, detail="signature")


def test_acs_response_signed_by_key_not_in_metadata_is_refused(app: Flask) -> None:
    started = start_flow(app)
    document = craft(app, started.request_id, key=generate("intruder"))
    _refused(app, started.flow_id, document, detail="trusted key")


def test_acs_wrong_audience_is_refused(app: Flask) -> None:
    started = start_flow(app)
    document = craft(app, started.request_id, audience="https://other-sp.example")
    _refused(app, started.flow_id, document, detail="Audience")


def test_acs_wrong_destination_is_refused(app: Flask) -> None:
    started = start_flow(app)
    document = resign(craft(app, started.request_id), mock_key(app),
                      response=lambda r: r.set("Destination", "https://other-sp.example/acs"))
    _refused(app, started.flow_id, document, detail="Destination")


def test_acs_wrong_recipient_is_refused(app: Flask) -> None:
    started = start_flow(app)

    def recipient(assertion: etree._Element) -> None:
        data = assertion.find(SUBCONF_DATA)
        assert data is not None
        data.set("Recipient", "https://other-sp.example/acs")

    document = resign(craft(app, started.request_id), mock_key(app), assertion=recipient)
    _refused(app, started.flow_id, document, detail="Recipient")


def test_acs_expired_assertion_is_refused(app: Flask) -> None:
    started = start_flow(app)
    past = datetime.now(UTC) - timedelta(minutes=10)
    fresh = messages.instant(datetime.now(UTC))
    document = resign(craft(app, started.request_id, now=past), mock_key(app),
                      response=lambda r: r.set("IssueInstant", fresh))
    _refused(app, started.flow_id, document, detail="expired")


def test_acs_expired_by_clock_is_refused(app: Flask) -> None:
    started = start_flow(app)
    document = craft(app, started.request_id)
    context = runtime_of(app).context
    real = context.clock
    context.clock = lambda: real() + timedelta(minutes=6)
    _refused(app, started.flow_id, document)


def test_acs_replayed_response_is_refused(app: Flask) -> None:
    started = start_flow(app)
    document = craft(app, started.request_id)
    assert post_response(app.test_client(), document).status_code == 303
    second = post_response(app.test_client(), document)
    assert second.status_code == 400
    assert "/flow/" not in second.headers.get("Location", "")
    assert flow_state(app, started.flow_id) == "authenticated"  # unchanged by the replay


def test_acs_replayed_assertion_is_refused_by_replay_cache(app: Flask) -> None:
    """Even if the request id were live again, the same assertion id is refused."""
    first = start_flow(app)
    document = craft(app, first.request_id)
    assert post_response(app.test_client(), document).status_code == 303
    rt = runtime_of(app)
    with app.test_request_context():
        flow = rt.context.flows.start(
            browser_binding=BINDING, frontend="rp", requester="https://rp.example",
            requester_name="RP", service="92a383fd-f732-5aaf-af23-d9acf46c4c3a",
            min_loa="substantial", return_to="https://rp.example/acs", request={})
        rt.context.flows.upstream_started(flow, "digid", first.request_id)
    _refused_after_verification(app, flow.id, document, detail="replayed")


def test_acs_unknown_in_response_to_is_refused(app: Flask) -> None:
    started = start_flow(app)
    document = craft(app, "_" + "0" * 40)
    response = post_response(app.test_client(), document)
    assert response.status_code == 400
    assert flow_state(app, started.flow_id) == "upstream"
    assert stub(app).identities == []


def test_acs_response_without_in_response_to_is_refused(app: Flask) -> None:
    started = start_flow(app)
    root = parse(craft(app, started.request_id))
    del root.attrib["InResponseTo"]
    response = post_response(app.test_client(), etree.tostring(root))
    assert response.status_code == 400
    assert flow_state(app, started.flow_id) == "upstream"


def test_acs_reused_in_response_to_is_refused(app: Flask) -> None:
    started = start_flow(app)
    assert post_response(app.test_client(), craft(app, started.request_id)).status_code == 303
    again = craft(app, started.request_id)  # a new, validly signed Response to the same request
    response = post_response(app.test_client(), again)
    assert response.status_code == 400
    assert len(stub(app).identities) == 0


def test_acs_not_base64_is_refused(app: Flask) -> None:
    started = start_flow(app)
    response = app.test_client().post("/connect/digid/acs", data={"SAMLResponse": "%%%"})
    assert response.status_code == 400
    assert flow_state(app, started.flow_id) == "upstream"


def test_acs_invalid_bsn_is_refused(app: Flask) -> None:
    started = start_flow(app)
    _refused_after_verification(app, started.flow_id,
                                craft(app, started.request_id, bsn="123456789"), detail="BSN")


def test_acs_unknown_level_uri_is_refused(app: Flask) -> None:
    started = start_flow(app)

    def level(assertion: etree._Element) -> None:
        ref = assertion.find(f"{SAML}AuthnStatement/{SAML}AuthnContext/{SAML}AuthnContextClassRef")
        assert ref is not None
        ref.text = "urn:example:loa:whatever"

    document = resign(craft(app, started.request_id), mock_key(app), assertion=level)
    _refused_after_verification(app, started.flow_id, document, detail="AuthnContextClassRef")


def test_acs_cancel_raises_upstream_cancelled(app: Flask) -> None:
    client = app.test_client()
    started = start_flow(app)
    login_url, token = open_login(client, started.location)
    answer = submit_login(client, login_url, token, "", password="", action="cancel")
    _, fields = posted_fields(answer.text)
    response = client.post("/connect/digid/acs", data=fields)
    assert response.status_code == 303 and response.location == "https://rp.example/error"
    assert_not_authenticated(app, started.flow_id)
    assert isinstance(stub(app).errors[-1], UpstreamCancelledError)


def test_acs_level_too_low_raises_insufficient_loa(app: Flask) -> None:
    client = app.test_client()
    started = start_flow(app, min_loa="substantial")
    login_url, token = open_login(client, started.location)
    answer = submit_login(client, login_url, token, "noor")
    _, fields = posted_fields(answer.text)
    response = client.post("/connect/digid/acs", data=fields)
    assert response.status_code == 403
    assert_not_authenticated(app, started.flow_id)
    assert isinstance(stub(app).errors[-1], InsufficientLoaError)


def test_acs_other_failure_status_raises_upstream_error(app: Flask) -> None:
    started = start_flow(app)
    document = messages.build_error_response(
        issuer=ENTITY_ID, destination=ACS, in_response_to=started.request_id,
        code="urn:oasis:names:tc:SAML:2.0:status:Responder",
        sub_code="urn:oasis:names:tc:SAML:2.0:status:RequestDenied", message=None,
        key=mock_key(app))
    _refused_after_verification(app, started.flow_id, document, error=UpstreamError)
    error = stub(app).errors[-1]
    assert not isinstance(error, (UpstreamCancelledError, UpstreamResponseError))


def test_acs_status_from_untrusted_key_is_refused_as_bad_response(app: Flask) -> None:
    started = start_flow(app)
    document = messages.build_error_response(
        issuer=ENTITY_ID, destination=ACS, in_response_to=started.request_id,
        code="urn:oasis:names:tc:SAML:2.0:status:Responder",
        sub_code="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed", message=None,
        key=generate("intruder"))
    _refused(app, started.flow_id, document)  # unverified: the flow stays open, RP not told
    assert parse(document).find(f"{SAMLP}Status") is not None


def test_forged_response_leaves_the_login_open_for_the_genuine_answer(app: Flask) -> None:
    started = start_flow(app)
    forged = craft(app, started.request_id, bsn="999990676", key=generate("intruder"))
    _refused(app, started.flow_id, forged, detail="trusted key")
    response = post_response(app.test_client(), craft(app, started.request_id))
    assert response.status_code == 303 and "/flow/" in response.headers["Location"]
    assert flow_state(app, started.flow_id) == "authenticated"


def test_scoping_finds_a_saml_connector_by_its_identity_providers_entity_id(app: Flask) -> None:
    """Scoping/IDPList may name the upstream by its entityID, as SAML service providers do,
    not only by the connector's name in our config."""
    connectors = runtime_of(app).connectors
    assert sso.upstream_hint(_request_scoped_to(ENTITY_ID), connectors) == "digid"
    assert sso.upstream_hint(_request_scoped_to("https://elsewhere.example.nl"), connectors) is None


def _request_scoped_to(*idp_list: str) -> messages.AuthnRequest:
    return messages.AuthnRequest(id="_req", issuer="https://sp.example.nl",
                                 issue_instant=datetime(2026, 11, 23, tzinfo=UTC), idp_list=idp_list)
