"""The demo SAML service provider: a real pysaml2 ``Saml2Client`` logging in at the broker.

It has its own key and metadata (one AttributeConsumingService per catalogue service,
index 1..n), registers itself at the broker on first use, sends signed AuthnRequests over
HTTP-Redirect and shows what the broker's signed Response said. Demo only.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import ParseError

from flask import Blueprint
from flask import abort
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFProtect
from saml2 import BINDING_HTTP_POST
from saml2 import BINDING_HTTP_REDIRECT
from saml2 import SAMLError
from saml2.client import Saml2Client
from saml2.response import StatusError
from saml2.s_utils import SamlException
from saml2.validate import NotValid
from saml2.validate import ResponseLifetimeExceed
from saml2.xmldsig import SIG_RSA_SHA256

from broker.context import BrokerContext
from broker.errors import ConfigError
from broker.frontends.saml_idp import SamlIdpFrontend
from broker.frontends.saml_idp.providers import register_service_provider
from broker.saml import bindings
from broker.saml.metadata import sp_descriptor
from broker.saml.pysaml2_backend import make_saml2_client
from broker.saml.xml import parse as parse_xml
from broker.services import Service
from broker.web.i18n import translate as t
from broker.web.runtime import runtime

KEY_NAME = "demo-sp"
OUTSTANDING = "demo_saml_outstanding"
#: the client trusts the broker's metadata, which is valid for days; rebuild it daily
CLIENT_LIFETIME_SECONDS = 86400



@dataclass
class _Registration:
    services: list[Service]
    metadata: bytes


class DemoServiceProvider:
    """The SP's state in this process: its metadata, registration and pysaml2 client."""

    def __init__(self, context: BrokerContext) -> None:
        self.context = context
        self.entity_id = context.url("/demo/saml/metadata")
        self.acs_url = context.url("/demo/saml/acs")
        self._registration: _Registration | None = None
        self._client: tuple[float, Saml2Client] | None = None

    def registration(self) -> _Registration:
        """Our metadata, registered at the broker the first time it is needed."""
        if self._registration is None:
            catalogue = self.context.catalogue()
            services = list(catalogue)
            document = sp_descriptor(
                entity_id=self.entity_id, key=self.context.key(KEY_NAME), acs_url=self.acs_url,
                services=[(index, s.name, s.uuid) for index, s in enumerate(services, 1)])
            register_service_provider(
                self.context.session(), metadata=document,
                service=services[0].uuid if services else None, catalogue=catalogue)
            self._registration = _Registration(services, document)
        return self._registration

    def index_of(self, uuid: str) -> int | None:
        services = self.registration().services
        return next((i for i, s in enumerate(services, 1) if s.uuid == uuid), None)

    def service(self, uuid: str | None) -> Service | None:
        return next((s for s in self.registration().services if s.uuid == uuid), None)

    def client(self) -> Saml2Client:
        now = time.monotonic()
        if self._client is None or now - self._client[0] > CLIENT_LIFETIME_SECONDS:
            self._client = (now, self._build_client())
        return self._client[1]

    def _build_client(self) -> Saml2Client:
        idp = _broker_idp()
        key = self.context.key(KEY_NAME)
        keys_path = self.context.settings.keys_path
        config: dict[str, Any] = {
            "entityid": self.entity_id,
            "key_file": str(keys_path / f"{KEY_NAME}.key"),
            "cert_file": str(keys_path / f"{KEY_NAME}.crt"),
            "metadata": {"inline": [idp.metadata_xml().decode()]},
            "allow_unknown_attributes": True,
            "service": {"sp": {
                "endpoints": {"assertion_consumer_service": [(self.acs_url, BINDING_HTTP_POST)]},
                "want_response_signed": True,
                "want_assertions_signed": True,
                "authn_requests_signed": True,
                "allow_unsolicited": False,
            }},
        }
        return make_saml2_client(config, key)


def _broker_idp() -> SamlIdpFrontend:
    for frontend in runtime().frontends.values():
        if isinstance(frontend, SamlIdpFrontend):
            return frontend
    raise ConfigError("the demo SAML service provider needs a saml_idp frontend")


def create_blueprint(context: BrokerContext, csrf: CSRFProtect) -> Blueprint:
    """The demo SP's routes under /demo/saml; only the ACS is exempt from CSRF."""
    bp = Blueprint("demo_saml", __name__, url_prefix="/demo/saml")
    sp = DemoServiceProvider(context)

    @bp.get("/metadata")
    def metadata() -> ResponseReturnValue:
        response = make_response(sp.registration().metadata)
        response.mimetype = "application/samlmetadata+xml"
        return response

    @bp.get("/login")
    def login() -> ResponseReturnValue:
        uuid = request.args.get("service", "")
        index = sp.index_of(uuid)
        if index is None:
            abort(404)
        request_id, info = sp.client().prepare_for_authenticate(
            entityid=_broker_idp().entity_id, relay_state=secrets.token_urlsafe(16),
            binding=BINDING_HTTP_REDIRECT, sign=True, sigalg=SIG_RSA_SHA256,
            attribute_consuming_service_index=str(index))
        outstanding = dict(session.get(OUTSTANDING, {}))
        outstanding[request_id] = uuid
        session[OUTSTANDING] = dict(list(outstanding.items())[-5:])
        return redirect(dict(info["headers"])["Location"], 303)

    @bp.post("/acs")
    def acs() -> ResponseReturnValue:
        outstanding: dict[str, str] = dict(session.get(OUTSTANDING, {}))
        encoded = request.form.get("SAMLResponse", "")
        try:
            # what the broker's hardened parser cannot read never reaches pysaml2, whose
            # parser fails in ways of its own on garbage (ParseError, AttributeError)
            parse_xml(bindings.decode_post(encoded))
            response = sp.client().parse_authn_request_response(
                encoded, BINDING_HTTP_POST,
                outstanding={request_id: "/" for request_id in outstanding})
        except StatusError as exc:
            return _status_page(exc)
        except (SAMLError, SamlException, NotValid, ResponseLifetimeExceed, ValueError,
                ParseError) as exc:
            return _status_page(exc)
        if response is None:
            return _status_page(None)
        service_uuid = outstanding.pop(response.in_response_to, None)
        session[OUTSTANDING] = outstanding
        service = sp.service(service_uuid)
        return render_template(
            "demo/result.html", protocol="SAML",
            service_name=service.name if service else "?",
            summary=_summary(response), rows=_rows(response), raw=_raw(response))

    csrf.exempt(acs)
    return bp


def _status_page(error: Exception | None) -> ResponseReturnValue:
    """Show the error status the broker sent (or why the Response was refused)."""
    if error is None:
        status, message = "-", t("Geen SAML-antwoord ontvangen.", "No SAML response received.")
    else:
        lines = str(error).strip().splitlines()
        status = type(error).__name__
        message = lines[-1] if lines else status
        if isinstance(error, StatusError) and " from " in message:
            message, _, status = message.rpartition(" from ")
    page = render_template("demo/failed.html", protocol="SAML", code=status, message=message)
    return make_response(page, 400)


def _raw(response: Any) -> str:
    xml = response.xmlstr
    return xml.decode() if isinstance(xml, bytes) else str(xml)


def _attribute_values(response: Any) -> list[tuple[str, str]]:
    """(name, value) of every attribute in the assertion; NameID values as qualifier|value."""
    rows: list[tuple[str, str]] = []
    for statement in response.assertion.attribute_statement:
        for attribute in statement.attribute:
            for value in attribute.attribute_value:
                rows.append((attribute.name, _value_text(value)))
    return rows


def _value_text(value: Any) -> str:
    for element in value.extension_elements or ():
        if element.tag == "NameID":
            qualifier = element.attributes.get("NameQualifier", "")
            return f"{element.text} ({qualifier})"
    return str(value.text or "")


def _rows(response: Any) -> list[tuple[str, str]]:
    authn = response.authn_info()
    rows = [("NameID", str(response.name_id.text))]
    rows += [("AuthnContextClassRef", str(context)) for context, _, _ in authn]
    rows += [("AuthenticatingAuthority", str(authority))
             for _, authorities, _ in authn for authority in authorities]
    return rows + _attribute_values(response)


def _summary(response: Any) -> list[tuple[str, str]]:
    values = dict(_attribute_values(response))
    acting = values.get("urn:nl-eid-gdi:1.0:ActingSubjectID") or values.get(
        "urn:etoegang:core:ActingSubjectID", "-")
    legal = values.get("urn:nl-eid-gdi:1.0:LegalSubjectID") or values.get(
        "urn:etoegang:core:LegalSubjectID")
    level = next((str(context) for context, _, _ in response.authn_info()), "-")
    return [
        (t("Ingelogd door", "Logged in by"), acting),
        (t("Namens", "On behalf of"), legal or t("zichzelf", "themself")),
        (t("Betrouwbaarheidsniveau", "Level of assurance"), level),
        (t("Uitgegeven door", "Issued by"), str(response.issuer())),
    ]
