"""Registering relying parties: what is refused, and that a refusal changes nothing."""

from __future__ import annotations

import pytest
from flask import Flask

from broker.db import OidcClient
from broker.errors import InputError
from broker.frontends.oidc import register_client
from broker.frontends.oidc.clients import find_client
from broker.frontends.oidc.clients import hash_secret
from broker.web.database import db

GOOD_URI = "https://rp.example.nl/cb"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"client_id": "ab"}, "client id"),
    ({"client_id": "has space"}, "client id"),
    ({"client_id": "x" * 201}, "client id"),
    ({"redirect_uris": ["/relative/cb"]}, "absolute"),
    ({"redirect_uris": ["rp.example.nl/cb"]}, "absolute"),
    ({"redirect_uris": ["https://rp.example.nl/cb#frag"]}, "fragment"),
    ({"redirect_uris": ["https://*.example.nl/cb"]}, "wildcard"),
    ({"redirect_uris": ["https://rp.example.nl/*"]}, "wildcard"),
    ({"redirect_uris": ["http://rp.example.nl/cb"]}, "localhost"),
    ({"redirect_uris": ["javascript:alert(1)"]}, "absolute"),
    ({"redirect_uris": []}, "at least one"),
    ({"secret": "short"}, "32"),
    ({"claims_profile": "saml"}, "profile"),
])
def test_register_client_bad_input_refused_and_nothing_stored(
        app: Flask, kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"client_id": "new-rp", "redirect_uris": [GOOD_URI],
                                    "secret": "z" * 32} | kwargs

    with pytest.raises(InputError, match=message) as refused:
        register_client(db.session, **arguments)  # type: ignore[arg-type]

    assert " / " in str(refused.value)  # Dutch / English
    assert db.session.get(OidcClient, str(arguments["client_id"])) is None


@pytest.mark.parametrize("uri", ["http://localhost:8000/cb", "http://127.0.0.1/cb",
                                 "http://[::1]:5000/cb"])
def test_register_client_http_loopback_accepted(app: Flask, uri: str) -> None:
    assert register_client(db.session(), client_id="local-rp", redirect_uris=[uri],
                           secret="z" * 32) is None
    assert find_client(db.session(), "local-rp") is not None


def test_register_client_without_secret_returns_generated_one(app: Flask) -> None:
    secret = register_client(db.session(), client_id="gen-rp", redirect_uris=[GOOD_URI],
                             secret=None)

    assert secret is not None and len(secret) >= 32
    row = db.session.get(OidcClient, "gen-rp")
    assert row.secret_hash == hash_secret(secret)
    assert secret not in row.secret_hash


def test_register_client_existing_id_updates_it(app: Flask) -> None:
    register_client(db.session(), client_id="upd-rp", redirect_uris=[GOOD_URI], secret="a" * 32)

    register_client(db.session(), client_id="upd-rp", redirect_uris=["https://rp.example.nl/2"],
                    secret="b" * 32, claims_profile="act", may_receive_bsn=True)

    client = find_client(db.session(), "upd-rp")
    assert client is not None
    assert client.redirect_uris == ("https://rp.example.nl/2",)
    assert client.claims_profile == "act" and client.may_receive_bsn
    assert client.check_client_secret("b" * 32) and not client.check_client_secret("a" * 32)


def test_register_client_refused_update_keeps_old_registration(app: Flask) -> None:
    register_client(db.session(), client_id="keep-rp", redirect_uris=[GOOD_URI], secret="a" * 32)

    with pytest.raises(InputError):
        register_client(db.session(), client_id="keep-rp",
                        redirect_uris=["http://evil.example.com/cb"], secret="b" * 32)

    client = find_client(db.session(), "keep-rp")
    assert client is not None and client.redirect_uris == (GOOD_URI,)
    assert client.check_client_secret("a" * 32)
