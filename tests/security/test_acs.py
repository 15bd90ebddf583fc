"""The most important attacks end to end: crafted from a Response mock DigiD really signed for
the flow's request, POSTed to /connect/digid/acs. Each test asserts the refusal and that nothing
changed: the flow is not authenticated, no identity reached the frontend, and the assertion id
was not spent in the replay cache."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from flask import Flask

from broker.flow import flow_key
from broker.mock_idp.digid import ENTITY_ID
from broker.saml.xml import DS
from broker.saml.xml import SAML
from broker.saml.xml import parse
from tests.mock_idp.support import BINDING
from tests.mock_idp.support import JAN_BSN
from tests.mock_idp.support import Started
from tests.mock_idp.support import assert_not_authenticated
from tests.mock_idp.support import craft
from tests.mock_idp.support import flow_state
from tests.mock_idp.support import mock_key
from tests.mock_idp.support import post_response
from tests.mock_idp.support import runtime_of
from tests.mock_idp.support import start_flow
from tests.mock_idp.support import stub
from tests.security import support
from tests.security.support import ATTACKER_KEY
from tests.security.support import EVIL_BSN
from tests.security.support import resign_outer


def _assertion_id(document: bytes) -> str:
    assertion = parse(document).find(SAML + "Assertion")
    assert assertion is not None
    return assertion.get("ID", "")


def _spent(app: Flask, assertion_id: str) -> bool:
    with app.app_context():
        key = f"saml-assertion:{ENTITY_ID}:{assertion_id}"
        return runtime_of(app).context.store.get(key) is not None


def _refused_at_acs(app: Flask, started: Started, attacked: bytes, legit: bytes, *,
                    verified: bool = False) -> None:
    """``verified``: the signatures are genuinely valid, so the assertion id may be spent."""
    assert JAN_BSN == support.LEGIT_BSN
    response = post_response(app.test_client(), attacked)
    assert response.status_code in (303, 400, 403, 502), response.status_code
    assert "/flow/" not in response.headers.get("Location", "")
    assert_not_authenticated(app, started.flow_id)
    assert stub(app).identities == []
    assert verified or not _spent(app, _assertion_id(legit))
    assert flow_state(app, started.flow_id) in (None, "upstream")


def _attack(app: Flask, attack: support.Attack, *, outer_resigned: bool = False) -> None:
    started = start_flow(app)
    legit = craft(app, started.request_id)
    attacked = attack(legit)
    assert EVIL_BSN.encode() in attacked
    if outer_resigned:
        attacked = resign_outer(attacked, mock_key(app))
    _refused_at_acs(app, started, attacked, legit)


# -- 1.1 XSW ---------------------------------------------------------------------------------


def test_xsw_01_at_acs_response_hidden_in_signature_is_refused(app: Flask) -> None:
    _attack(app, support.xsw_01)


def test_xsw_02_at_acs_response_as_detached_sibling_is_refused(app: Flask) -> None:
    _attack(app, support.xsw_02)


@pytest.mark.parametrize("outer_resigned", [False, True], ids=["as-received", "outer-resigned"])
@pytest.mark.parametrize("case", sorted(support.XSW_ASSERTION_ATTACKS))
def test_xsw_03_to_09_at_acs_assertion_wrapping_is_refused(app: Flask, case: str,
                                                           outer_resigned: bool) -> None:
    """XSW-03 .. XSW-09, each as received and with the outer Response re-signed by the IdP."""
    _attack(app, support.XSW_ASSERTION_ATTACKS[case], outer_resigned=outer_resigned)


def test_xsw_10_at_acs_signature_relocation_is_refused(app: Flask) -> None:
    _attack(app, support.xsw_10)


# -- 1.2 signatures ---------------------------------------------------------------------------


def test_sig_01_at_acs_stripped_signatures_are_refused(app: Flask) -> None:
    def strip(document: bytes) -> bytes:
        root = parse(document)
        for signature in list(root.iter(DS + "Signature")):
            parent = signature.getparent()
            assert parent is not None
            parent.remove(signature)
        support.with_evil_bsn(root)
        return support.serialise(root)

    _attack(app, strip)


def test_sig_04_at_acs_attacker_key_in_keyinfo_is_refused(app: Flask) -> None:
    started = start_flow(app)
    legit = craft(app, started.request_id)
    attacked = craft(app, started.request_id, bsn=EVIL_BSN, key=ATTACKER_KEY)
    _refused_at_acs(app, started, attacked, legit)


# -- 1.3 comment injection --------------------------------------------------------------------


def test_c14n_01_at_acs_comment_in_classic_name_id_is_refused(app: Flask) -> None:
    started = start_flow(app)
    value = f"s00000000:{EVIL_BSN}0"  # genuinely signed; a naive reader would stop at the comment
    legit = craft(app, started.request_id, name_id=value, attributes=False)
    attacked = support.comment_in_identifier(legit, value, len(value) - 1)
    _refused_at_acs(app, started, attacked, legit, verified=True)


def test_c14n_02_at_acs_comment_in_bsn_attribute_is_refused(app: Flask) -> None:
    started = start_flow(app)
    legit = craft(app, started.request_id, bsn=f"{EVIL_BSN}0")
    attacked = support.comment_in_identifier(legit, f"{EVIL_BSN}0", 9)
    _refused_at_acs(app, started, attacked, legit, verified=True)


def test_c14n_04_at_acs_full_width_digit_bsn_is_refused(app: Flask) -> None:
    started = start_flow(app)
    wide = EVIL_BSN.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})
    attacked = craft(app, started.request_id, bsn=wide)
    _refused_at_acs(app, started, attacked, attacked, verified=True)


# -- 1.4 parser abuse -------------------------------------------------------------------------


def test_xml_01_at_acs_doctype_is_refused_and_flow_untouched(app: Flask) -> None:
    started = start_flow(app)
    legit = craft(app, started.request_id)
    attacked = b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + legit.replace(
        JAN_BSN.encode(), b"&x;")
    response = post_response(app.test_client(), attacked)
    assert response.status_code == 400
    assert b"root:" not in response.data
    assert flow_state(app, started.flow_id) == "upstream"  # not even claimed
    assert stub(app).identities == [] and stub(app).errors == []
    assert post_response(app.test_client(), legit).status_code == 303  # still usable


@pytest.mark.parametrize("encoded", ["url-safe", "double", "bad-padding"])
def test_xml_09_at_acs_irregular_base64_is_refused(app: Flask, encoded: str) -> None:
    started = start_flow(app)
    document = craft(app, started.request_id)
    value = base64.b64encode(document).decode()
    values = {"url-safe": base64.urlsafe_b64encode(document).decode().replace("=", ""),
              "double": base64.b64encode(value.encode()).decode(),
              "bad-padding": value.rstrip("=") + "==="}
    response = app.test_client().post("/connect/digid/acs",
                                      data={"SAMLResponse": values[encoded]})
    assert response.status_code == 400
    assert flow_state(app, started.flow_id) == "upstream"
    assert stub(app).identities == []


def test_xml_09_at_acs_line_wrapped_base64_is_decoded_consistently(app: Flask) -> None:
    """MIME line breaks are not data: removing them is deterministic and outside what is signed,
    and identity providers do send 76-character lines. Only whitespace is tolerated."""
    started = start_flow(app)
    value = base64.b64encode(craft(app, started.request_id)).decode()
    wrapped = "\r\n".join(value[i:i + 76] for i in range(0, len(value), 76))
    response = app.test_client().post("/connect/digid/acs", data={"SAMLResponse": wrapped})
    assert response.status_code == 303 and flow_state(app, started.flow_id) == "authenticated"


# -- 1.5 protocol -----------------------------------------------------------------------------


def test_sso_01_at_acs_replay_into_a_new_flow_is_refused(app: Flask) -> None:
    first = start_flow(app)
    document = craft(app, first.request_id)
    assert post_response(app.test_client(), document).status_code == 303
    assert flow_state(app, first.flow_id) == "authenticated"
    second = start_flow(app)
    with app.app_context():  # the attacker's new flow waits for the very same request id
        rt = runtime_of(app)
        data = rt.context.store.get(flow_key(second.flow_id))
        assert data is not None
        flow = rt.context.flows.load(second.flow_id, BINDING)
        rt.context.flows.upstream_started(flow, "digid", first.request_id)
    response = post_response(app.test_client(), document)
    assert response.status_code in (400, 303)
    assert "/flow/" not in response.headers.get("Location", "")
    assert flow_state(app, second.flow_id) in (None, "upstream")
    assert flow_state(app, first.flow_id) == "authenticated"
    assert stub(app).identities == []


def test_sso_02_at_acs_response_injected_into_another_browser_never_reaches_it(
        app: Flask) -> None:
    started = start_flow(app)
    victim = app.test_client()
    victim.set_cookie("broker_browser", "v" * 40)
    landed = post_response(victim, craft(app, started.request_id, bsn=EVIL_BSN))
    assert landed.status_code == 303
    resumed = victim.get(landed.location)
    assert resumed.status_code in (400, 403)
    assert stub(app).identities == []
    assert flow_state(app, started.flow_id) == "authenticated"  # only its own browser goes on


def test_sso_04_at_acs_stale_request_is_refused(app: Flask,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    started = start_flow(app)
    context = runtime_of(app).context
    lifetime = context.settings.flow_lifetime_seconds
    real = context.clock
    context.clock = lambda: real() + timedelta(seconds=lifetime + 1)
    monkeypatch.setattr(context.store, "_clock", context.clock)  # the store keeps its own clock
    document = craft(app, started.request_id, now=context.clock())
    response = post_response(app.test_client(), document)
    assert response.status_code == 400
    assert stub(app).identities == []
    assert flow_state(app, started.flow_id) in (None, "upstream")


def test_sso_17_at_acs_level_below_requested_never_reaches_frontend(app: Flask) -> None:
    started = start_flow(app, min_loa="substantial")
    client = app.test_client()
    client.set_cookie("broker_browser", BINDING)
    landed = post_response(client, craft(app, started.request_id, level="low"))
    assert landed.status_code == 303
    finished = client.get(landed.location)
    assert finished.status_code in (303, 403)
    assert stub(app).identities == []
    assert flow_state(app, started.flow_id) is None


def test_sso_22_at_acs_get_binding_is_refused(app: Flask) -> None:
    started = start_flow(app)
    encoded = base64.b64encode(craft(app, started.request_id)).decode()
    response = app.test_client().get("/connect/digid/acs", query_string={"SAMLResponse": encoded})
    assert response.status_code == 405
    assert flow_state(app, started.flow_id) == "upstream"
    assert stub(app).identities == []


# -- 1.8 RelayState ---------------------------------------------------------------------------


def test_rly_01_and_03_at_acs_relay_state_is_neither_followed_nor_reflected(app: Flask) -> None:
    started = start_flow(app)
    relay = 'https://attacker.example/"><script>alert(1)</script>'
    response = app.test_client().post("/connect/digid/acs", data={
        "SAMLResponse": base64.b64encode(craft(app, started.request_id)).decode(),
        "RelayState": relay})
    assert response.status_code == 303
    assert response.location.endswith(f"/flow/{started.flow_id}/continue")
    assert b"attacker.example" not in response.data and b"<script>" not in response.data
