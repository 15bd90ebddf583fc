"""Mock eHerkenning: a real SAML 2.0 identity provider (signed metadata, signed responses) with
the demo world's fake employees, for the demo and tests only.

It plays two eTD roles at once: the authentication service (username, password, TOTP code) and
the mandate register. The AuthnRequest names the service by AttributeConsumingServiceIndex,
which the requesting SP's metadata maps to a ServiceUUID. After the login it answers only when
the employee holds an active, currently valid company mandate from their own organisation for
that service at a level the account reaches; otherwise ``Responder/RequestDenied``.

The answer has the eTD shape of reference/dutch-mandates.md 1.4-1.6 and 7.3 (d), with plaintext
NameIDs instead of EncryptedIDs: a transient NameID, the eTD assurance class, the employee's
pseudonym as ``urn:etoegang:core:ActingSubjectID`` and the company's KvK number and RSIN as
``urn:etoegang:core:LegalSubjectID``.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from flask import Blueprint
from flask import make_response
from flask import render_template
from flask import request
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import select
from werkzeug.wrappers import Response

from broker import loa
from broker.context import BrokerContext
from broker.db import MockAccount
from broker.errors import SAML_AUTHN_FAILED
from broker.errors import SAML_NO_AUTHN_CONTEXT
from broker.errors import SAML_REQUEST_DENIED
from broker.errors import RequestError
from broker.mock_idp import engine
from broker.mock_idp import views
from broker.mock_idp.engine import PendingRequest
from broker.mock_idp.engine import ServiceProviders
from broker.register.models import Mandate
from broker.register.models import Organisation
from broker.saml import messages
from broker.saml import mock_idps
from broker.saml import names
from broker.services import ORG_PORTAL_SERVICE

log = logging.getLogger(__name__)

SPEC = mock_idps.EHERKENNING
ENTITY_ID = SPEC.entity_id

SERVICE_UUID = names.ETD_SERVICE_UUID
ACTING_SUBJECT_ID = names.ETD_ACTING_SUBJECT_ID
LEGAL_SUBJECT_ID = names.ETD_LEGAL_SUBJECT_ID
COMPANY_NAME = names.ETD_COMPANY_NAME
BRANCH = names.ETD_BRANCH
PSEUDO = names.ETD_PSEUDO
KVKNR = names.ETD_KVKNR
RSIN = names.ETD_RSIN

CANCELLED = names.CANCELLED
NOT_AUTHORISED = "The employee is not authorised for this service on behalf of the organisation"
LEVEL_TOO_LOW = "Level of assurance of the means is too low"
#: eHerkenning level names a person sees.
LEVEL_NAMES = {"low": "EH2", "substantial": "EH3", "high": "EH4"}

def mock_eherkenning_entity_id(context: BrokerContext) -> str:
    """The entity id of mock eHerkenning (the same for every broker instance)."""
    return ENTITY_ID


def mock_eherkenning_metadata(context: BrokerContext) -> bytes:
    """Mock eHerkenning's signed IdP metadata, built in process (no HTTP)."""
    return mock_idps.idp_metadata(context, SPEC)


def create_mock_eherkenning(context: BrokerContext, csrf: CSRFProtect,
                            service_providers: ServiceProviders) -> Blueprint:
    """The mock eHerkenning blueprint at /mock/eherkenning, answering the SPs whose metadata
    ``service_providers()`` returns (read per request)."""
    bp = Blueprint("mock_eherkenning", __name__, url_prefix=SPEC.prefix)
    views.add_protocol_routes(bp, context, SPEC, csrf, service_providers, check=_names_a_service)

    @bp.route("/login/<ticket>", methods=["GET", "POST"])
    def login(ticket: str) -> Response:
        pending = views.pending_or_refuse(context, SPEC, ticket)
        if request.method == "GET":
            return _page(context, ticket, pending)
        if request.form.get("action") == "cancel":
            return _refuse(context, ticket, SAML_AUTHN_FAILED, CANCELLED)
        account = views.account_or_page(
            context, SPEC, ticket, pending,
            lambda **shown: _page(context, ticket, pending, **shown))
        if isinstance(account, Response):
            return account
        if account.level not in loa.ETOEGANG_URI or not engine.satisfies(pending, account.level):
            return _refuse(context, ticket, SAML_NO_AUTHN_CONTEXT, LEVEL_TOO_LOW)
        organisation = context.session().get(Organisation, _organisation_of(account))
        mandate = authorising_mandate(context, account, str(pending.service_uuid))
        if organisation is None or (mandate is None and not _is_own_organisation_service(
                str(pending.service_uuid))):
            return _refuse(context, ticket, SAML_REQUEST_DENIED, NOT_AUTHORISED)
        content = _content(context, account, organisation, mandate, pending)
        return views.finish(context, SPEC, ticket,
                            lambda p: engine.answer(context, SPEC, p, content))

    return bp


def _names_a_service(pending: PendingRequest) -> None:
    """The mandate register answers per service, so a request must name one."""
    if not pending.service_uuid:
        raise RequestError("mock eherkenning: AuthnRequest names no service "
                           "(AttributeConsumingServiceIndex)")


def authorising_mandate(context: BrokerContext, account: MockAccount,
                        service_uuid: str) -> Mandate | None:
    """The employee's active, currently valid company mandate from their own organisation
    covering ``service_uuid`` at a level (Mandate.loa, else the service's minimum) the
    account reaches; None when there is none. The first by id when there are several."""
    organisation = _organisation_of(account)
    if not organisation:
        return None
    register = context.register()
    mandates = [m for m in register.usable("pseudonym", account.identifier, service_uuid,
                                           ("company",))
                if m.represented_type == "kvk" and m.represented_id == organisation]
    for mandate in sorted(mandates, key=lambda m: m.id):
        required = mandate.loa or _service_level(context, service_uuid)
        if required is not None and loa.is_level(required) and loa.meets(account.level, required):
            return mandate
    return None


def _is_own_organisation_service(service_uuid: str) -> bool:
    """Services about the employee's own organisation need no authorisation from it: the
    broker's organisation portal lets every employee in, and decides itself who may change
    what (its administrators)."""
    return service_uuid == ORG_PORTAL_SERVICE.uuid


def _service_level(context: BrokerContext, service_uuid: str) -> str | None:
    try:
        return context.catalogue().get(service_uuid).min_loa
    except RequestError:
        return None


def _organisation_of(account: MockAccount) -> str:
    value = (account.extra or {}).get("organisation")
    return value if isinstance(value, str) else ""


def _refuse(context: BrokerContext, ticket: str, sub_code: str, message: str) -> Response:
    return views.finish(context, SPEC, ticket, lambda p: engine.answer_error(
        context, SPEC, p, sub_code, message))


def _page(context: BrokerContext, ticket: str, pending: PendingRequest, *, status: int = 200,
          **shown: Any) -> Response:
    page = render_template(
        "mock_eherkenning/login.html", ticket=ticket, pending=pending,
        accounts=_accounts(context), level_names=LEVEL_NAMES, **shown,
        totp_secret=views.DEMO_TOTP_SECRET, totp_qr=views.demo_totp_qr(SPEC.label),
        attempts_left=engine.attempts_left(context, SPEC, ticket))
    return make_response(page, status)


def _accounts(context: BrokerContext) -> list[tuple[MockAccount, str]]:
    """The demo employees with the name of their organisation."""
    session = context.session()
    names = {o.kvk: o.name for o in session.execute(select(Organisation)).scalars()}
    rows = session.execute(
        select(MockAccount).where(MockAccount.idp == SPEC.idp).order_by(MockAccount.username))
    return [(account, names.get(_organisation_of(account), _organisation_of(account)))
            for account in rows.scalars()]


def _content(context: BrokerContext, account: MockAccount, organisation: Organisation,
             mandate: Mandate | None, pending: PendingRequest) -> messages.AssertionContent:
    attributes: list[tuple[str, tuple[messages.AttributeValue, ...]]] = [
        (SERVICE_UUID, (str(pending.service_uuid),)),
        (ACTING_SUBJECT_ID, (messages.NameIdValue(account.identifier, PSEUDO),)),
        (LEGAL_SUBJECT_ID, (messages.NameIdValue(organisation.kvk, KVKNR),
                            messages.NameIdValue(organisation.rsin, RSIN))),
        (COMPANY_NAME, (organisation.name,)),
    ]
    branch = (mandate.extra or {}).get("branch") if mandate else None
    if isinstance(branch, str) and branch:
        attributes.append((BRANCH, (branch,)))
    return messages.AssertionContent(
        name_id=secrets.token_hex(16), authn_context=loa.ETOEGANG_URI[account.level],
        authn_instant=context.clock(), session_index=messages.new_id(),
        authenticating_authorities=(ENTITY_ID,), attributes=tuple(attributes))
