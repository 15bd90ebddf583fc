"""What the ID token and userinfo say: subject rules, represents (nlgov) and act profiles."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet

from broker.frontends.oidc import claims
from broker.frontends.oidc.claims import Audience
from broker.frontends.oidc.keys import pairwise_secret
from broker.identity import Identity
from broker.identity import Link
from broker.identity import Party
from broker.web.runtime import runtime
from tests.frontends.oidc.conftest import ACT_SECRET
from tests.frontends.oidc.conftest import BSN_SECRET
from tests.frontends.oidc.conftest import SECRET
from tests.frontends.oidc.conftest import SERVICE
from tests.frontends.oidc.conftest import Pkce
from tests.frontends.oidc.conftest import login
from tests.frontends.oidc.conftest import person
from tests.frontends.oidc.conftest import redeem

PAIRWISE = b"k" * 32
JAN = "999993653"
FATIMA = "999990676"


def _audience(profile: str = "nlgov", bsn: bool = False, client_id: str = "rp") -> Audience:
    return Audience(client_id=client_id, may_receive_bsn=bsn, profile=profile,
                    pairwise_secret=PAIRWISE)


def _voluntary(identity: Identity) -> Identity:
    return identity.acting_for(Link(party=Party(id=JAN, id_type="bsn"), mandate_id="m1",
                                    kind="voluntary", services=(SERVICE,)))


def _chain() -> Identity:
    employee = Identity(acting=Party(id="emp-7", id_type="pseudonym"), loa="substantial",
                        connector="eh", authn_instant=person().authn_instant)
    return employee.acting_for(
        Link(party=Party(id="87654321", id_type="kvk"), mandate_id="m-int", kind="company"),
        Link(party=Party(id="12345678", id_type="kvk"), mandate_id="m-chain", kind="chain",
             services=(SERVICE,)))


def _id_token(app: Flask, client: Any, identity: Identity, client_id: str,
              secret: str) -> dict[str, Any]:
    pkce = Pkce()
    code = login(app, client, identity, client_id=client_id, pkce=pkce)["code"]
    body = redeem(client, code, pkce, client_id=client_id, secret=secret).get_json()
    keys = KeySet.import_key_set(client.get("/oidc/jwks").get_json())
    return dict(jwt.decode(body["id_token"], keys).claims)


def test_id_token_self_for_pseudonymous_client_hides_bsn(app: Flask, client: Any) -> None:
    token = _id_token(app, client, person(JAN), "rp-pseudo", SECRET)

    assert token["sub_id_type"] == "urn:nl-eid-gdi:1.0:id:pseudonym"
    assert token["sub"] != JAN and len(token["sub"]) == 43
    assert JAN not in str(token)
    assert token["urn:nl-eid-gdi:1.0:ServiceUUID"] == SERVICE
    assert "represents" not in token and "act" not in token and "mandate" not in token
    assert token["sub"] == _id_token(app, client, person(JAN), "rp-pseudo", SECRET)["sub"]


def test_id_token_self_for_bsn_client_gives_bsn(app: Flask, client: Any) -> None:
    token = _id_token(app, client, person(JAN), "rp-bsn", BSN_SECRET)

    assert token["sub"] == JAN
    assert token["sub_id_type"] == "urn:nl-eid-gdi:1.0:id:BSN"
    assert token["aud"] == "rp-bsn"


def test_id_token_voluntary_mandate_nlgov_for_bsn_client(app: Flask, client: Any) -> None:
    token = _id_token(app, client, _voluntary(person(FATIMA)), "rp-bsn", BSN_SECRET)

    assert token["sub"] == FATIMA
    assert token["represents"] == {"sub": JAN, "sub_id_type": "urn:nl-eid-gdi:1.0:id:BSN",
                                   "iss": "urn:mock:digid"}
    assert token["mandate"] == {"kind": "voluntary", "services": [{"uuid": SERVICE}]}
    assert "act" not in token


def test_id_token_act_profile_puts_represented_party_in_sub(app: Flask, client: Any) -> None:
    token = _id_token(app, client, _voluntary(person(FATIMA)), "rp-act", ACT_SECRET)

    secret = pairwise_secret(runtime().context.settings.instance_path)
    assert token["sub"] == claims.pairwise_pseudonym(secret, "rp-act", "bsn", JAN)
    assert token["sub_id_type"] == claims.PSEUDONYM
    assert token["act"] == {"sub": claims.pairwise_pseudonym(secret, "rp-act", "bsn", FATIMA),
                            "sub_id_type": claims.PSEUDONYM}
    assert token["mandate"]["kind"] == "voluntary"
    assert "represents" not in token


def test_claims_pseudonym_differs_between_clients() -> None:
    first = claims.subject(Party(id=JAN, id_type="bsn"), _audience(client_id="a"))
    second = claims.subject(Party(id=JAN, id_type="bsn"), _audience(client_id="b"))

    assert first["sub"] != second["sub"]
    assert first["sub"] == claims.pairwise_pseudonym(PAIRWISE, "a", "bsn", JAN)


def test_claims_chain_nlgov_nests_final_party_deepest() -> None:
    body = claims.identity_claims(_chain(), _audience(), issuer="http://broker",
                                  service_uuid=SERVICE)

    assert body["sub_id_type"] == claims.PSEUDONYM
    outer = body["represents"]
    assert outer["sub"] == "87654321" and outer["sub_id_type"] == claims.KVK
    assert outer["iss"] == "http://broker"
    inner = outer["represents"]
    assert inner == {"sub": "12345678", "sub_id_type": claims.KVK, "iss": "http://broker"}
    assert body["mandate"] == {"kind": "chain", "services": [{"uuid": SERVICE}]}
    assert "act" not in body


def test_claims_chain_act_profile_nests_intermediary_inside_actor() -> None:
    body = claims.identity_claims(_chain(), _audience("act"), issuer="http://broker",
                                  service_uuid=SERVICE)

    assert body["sub"] == "12345678" and body["sub_id_type"] == claims.KVK
    assert body["act"]["sub_id_type"] == claims.PSEUDONYM
    assert body["act"]["act"] == {"sub": "87654321", "sub_id_type": claims.KVK}
    assert "represents" not in body and "represents" not in str(body["act"])


def test_claims_legal_mandate_carries_role() -> None:
    identity = person(FATIMA).acting_for(Link(party=Party(id=JAN, id_type="bsn"),
                                              mandate_id="m", kind="legal",
                                              role="bewindvoerder", services=(SERVICE,)))

    body = claims.identity_claims(identity, _audience(bsn=True), issuer="i",
                                  service_uuid=SERVICE)

    assert body["mandate"]["role"] == "bewindvoerder"
    assert body["represents"]["sub"] == JAN


def test_claims_rsin_party_uses_rsin_type() -> None:
    assert claims.subject(Party(id="123456782", id_type="rsin"), _audience()) == {
        "sub": "123456782", "sub_id_type": claims.RSIN}


def test_claims_unknown_profile_refused() -> None:
    with pytest.raises(ValueError, match="profile"):
        claims.identity_claims(person(), _audience("mixed"), issuer="i", service_uuid=SERVICE)


def test_userinfo_gives_represents_without_token_claims(app: Flask, client: Any) -> None:
    pkce = Pkce()
    code = login(app, client, _voluntary(person(FATIMA)), client_id="rp-bsn",
                 pkce=pkce)["code"]
    access = redeem(client, code, pkce, client_id="rp-bsn",
                    secret=BSN_SECRET).get_json()["access_token"]

    info = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {access}"})

    assert info.status_code == 200
    body = info.get_json()
    assert body["sub"] == FATIMA and body["represents"]["sub"] == JAN
    assert not {"iss", "aud", "exp", "nonce"} & set(body)


def test_userinfo_without_or_with_bad_token_refused(app: Flask, client: Any) -> None:
    assert client.get("/oidc/userinfo").status_code == 401
    bad = client.get("/oidc/userinfo", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert "invalid_token" in bad.headers["WWW-Authenticate"]
