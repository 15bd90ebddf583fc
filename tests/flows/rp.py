"""The relying parties of the flow tests: an authlib OIDC client and a pysaml2 SP.

Both are real protocol clients; they verify what they receive exactly as an integrating
service would, with keys fetched from the broker's JWKS or metadata.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.flows.browser import Arrival
from tests.flows.browser import Browser

OIDC_REDIRECT = "https://rp.test/callback"
INKOMSTEN = "92a383fd-f732-5aaf-af23-d9acf46c4c3a"
TOESLAGEN = "1373be8a-5091-5838-ac0d-b3234dc1fa5f"
ZORGDOSSIER = "e00bfadf-3129-5f5d-88eb-63e4ca833c5d"


@dataclass
class OidcResult:
    claims: dict[str, Any]
    token: dict[str, Any]


class OidcRelyingParty:
    def __init__(self, broker_url: str, client_id: str, secret: str, *,
                 door: str | None = None) -> None:
        self.broker_url = broker_url
        #: where the back channel (token, keys) goes: the broker's base URL, or another process
        self.door = door or broker_url
        self.client = OAuth2Session(client_id, secret, scope="openid",
                                    redirect_uri=OIDC_REDIRECT, code_challenge_method="S256",
                                    token_endpoint_auth_method="client_secret_basic")
        self.verifier = secrets.token_urlsafe(48)
        self.nonce = secrets.token_urlsafe(16)
        self.state = ""

    def authorization_url(self, service: str, **params: str) -> str:
        url, self.state = self.client.create_authorization_url(
            f"{self.broker_url}/oidc/authorize", code_verifier=self.verifier, nonce=self.nonce,
            scope=f"openid urn:uuid:{service}", **params)
        return str(url)

    def finish(self, arrival: requests.Response | Arrival) -> OidcResult:
        assert isinstance(arrival, Arrival), f"the browser did not leave the broker: {arrival}"
        assert arrival.method == "GET" and arrival.url.startswith(OIDC_REDIRECT), arrival
        query = parse_qs(urlsplit(arrival.url).query)
        assert "error" not in query, query
        assert query["state"] == [self.state]
        token = self.client.fetch_token(f"{self.door}/oidc/token",
                                        authorization_response=arrival.url,
                                        code_verifier=self.verifier)
        keys = KeySet.import_key_set(requests.get(f"{self.door}/oidc/jwks", timeout=10).json())
        decoded = jwt.decode(token["id_token"], keys, algorithms=["RS256", "ES256"])
        claims = dict(decoded.claims)
        assert claims["iss"] == self.broker_url
        assert claims["aud"] in (self.client.client_id, [self.client.client_id])
        assert claims["nonce"] == self.nonce
        return OidcResult(claims=claims, token=dict(token))

    def error_of(self, arrival: Arrival) -> dict[str, list[str]]:
        assert arrival.method == "GET" and arrival.url.startswith(OIDC_REDIRECT), arrival
        return parse_qs(urlsplit(arrival.url).query)


def login(browser: Browser, start_url: str, username: str, choose: str | None = None) -> Any:
    """Drive a whole login from a relying party's start URL: mock DigiD, then the chooser when
    ``choose`` is given. Returns the arrival at the relying party, or the page where it stopped."""
    outcome = browser.open(start_url)
    if isinstance(outcome, Arrival):
        return outcome
    outcome = browser.login_at_mock_digid(username)
    if choose is not None and not isinstance(outcome, Arrival):
        outcome = browser.submit("form.choices", button=("choice", choose))
    return outcome


def oidc_login(browser: Browser, rp: OidcRelyingParty, service: str, username: str,
               choose: str | None = None) -> Any:
    return login(browser, rp.authorization_url(service), username, choose)


SP_ENTITY = "https://sp.test/metadata"
SP_ACS = "https://sp.test/acs"


class SamlServiceProvider:
    """A real pysaml2 SP (signxml crypto backend), registered at the broker by its metadata."""

    def __init__(self, broker_url: str, session: Any, key_dir: Any, services: list[str]) -> None:
        from broker import keys
        from broker.context import service_from_record
        from broker.db import ServiceRecord
        from broker.frontends.saml_idp.providers import register_service_provider
        from broker.saml.metadata import sp_descriptor
        from broker.services import ServiceCatalogue

        catalogue = ServiceCatalogue([service_from_record(r) for r in session.query(ServiceRecord)])
        self.key = keys.load_or_create(key_dir, "test-sp")
        self.indexes = {uuid: index for index, uuid in enumerate(services, 1)}
        document = sp_descriptor(entity_id=SP_ENTITY, key=self.key, acs_url=SP_ACS, services=[
            (index, catalogue.get(uuid).name, uuid) for uuid, index in self.indexes.items()])
        register_service_provider(session, metadata=document, service=services[0],
                                  catalogue=catalogue)
        session.commit()
        self.broker_url = broker_url
        self.idp_metadata = requests.get(f"{broker_url}/saml/idp/metadata", timeout=10).text
        self.key_dir = key_dir
        self.outstanding: dict[str, str] = {}

    def client(self) -> Any:
        from saml2 import BINDING_HTTP_POST

        from broker.saml.pysaml2_backend import make_saml2_client

        return make_saml2_client({
            "entityid": SP_ENTITY,
            "key_file": str(self.key_dir / "test-sp.key"),
            "cert_file": str(self.key_dir / "test-sp.crt"),
            "metadata": {"inline": [self.idp_metadata]},
            "allow_unknown_attributes": True,
            "service": {"sp": {
                "endpoints": {"assertion_consumer_service": [(SP_ACS, BINDING_HTTP_POST)]},
                "want_response_signed": True, "want_assertions_signed": True,
                "authn_requests_signed": True, "allow_unsolicited": False,
            }},
        }, self.key)

    def login_url(self, service: str) -> str:
        from saml2 import BINDING_HTTP_REDIRECT
        from saml2.xmldsig import SIG_RSA_SHA256

        request_id, info = self.client().prepare_for_authenticate(
            entityid=f"{self.broker_url}/saml/idp/metadata", relay_state="rs-123",
            binding=BINDING_HTTP_REDIRECT, sign=True, sigalg=SIG_RSA_SHA256,
            attribute_consuming_service_index=str(self.indexes[service]))
        self.outstanding[request_id] = service
        return str(dict(info["headers"])["Location"])

    def finish(self, arrival: requests.Response | Arrival) -> dict[str, Any]:
        """Verify the Response with pysaml2; the attributes, with NameID values as qualifier|id."""
        assert isinstance(arrival, Arrival), f"the browser did not leave the broker: {arrival}"
        from saml2 import BINDING_HTTP_POST

        assert arrival.method == "POST" and arrival.url == SP_ACS, arrival
        assert arrival.fields.get("RelayState") == "rs-123"
        response = self.client().parse_authn_request_response(
            arrival.fields["SAMLResponse"], BINDING_HTTP_POST,
            outstanding={request_id: "/" for request_id in self.outstanding})
        attributes: dict[str, Any] = {}
        for statement in response.assertion.attribute_statement:
            for attribute in statement.attribute:
                attributes[attribute.name] = [_saml_value(v) for v in attribute.attribute_value]
        attributes["_authn_context"] = [c for c, _, _ in response.authn_info()]
        return attributes

    def status_of(self, arrival: Arrival) -> str:
        """The (verified) failure status of an error Response."""
        from saml2 import BINDING_HTTP_POST
        from saml2.response import StatusError

        try:
            self.client().parse_authn_request_response(
                arrival.fields["SAMLResponse"], BINDING_HTTP_POST,
                outstanding={request_id: "/" for request_id in self.outstanding})
        except StatusError as error:
            return str(error)
        raise AssertionError("expected an error status")


def _saml_value(value: Any) -> str:
    for element in value.extension_elements or ():
        if element.tag == "NameID":
            return f"{element.attributes.get('NameQualifier', '')}|{element.text}"
    return str(value.text or "")


def saml_login(browser: Browser, sp: SamlServiceProvider, service: str, username: str,
               choose: str | None = None) -> Any:
    return login(browser, sp.login_url(service), username, choose)
