"""Mock DigiD: a real SAML 2.0 identity provider (signed metadata, signed responses) with the
demo world's fake citizens, for the demo and tests only.

Answers in the ST-SAML form of DigiD's successor profile: a transient NameID, the account's
level as eIDAS/Logius AuthnContextClassRef, and the BSN as ``urn:nl-eid-gdi:1.0:ActingSubjectID``
(a NameID qualified ``urn:nl-eid-gdi:1.0:id:legacy-BSN``).
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
from broker.mock_idp import engine
from broker.mock_idp import views
from broker.mock_idp.engine import PendingRequest
from broker.mock_idp.engine import ServiceProviders
from broker.saml import messages
from broker.saml import mock_idps
from broker.saml import names
from broker.web.database import db

log = logging.getLogger(__name__)

SPEC = mock_idps.DIGID
ENTITY_ID = SPEC.entity_id
ACTING_SUBJECT_ID = names.ST_ACTING_SUBJECT_ID
LEGACY_BSN = names.ST_LEGACY_BSN
CANCELLED = names.CANCELLED

def mock_digid_entity_id(context: BrokerContext) -> str:
    """The entity id of mock DigiD (the same for every broker instance)."""
    return ENTITY_ID


def mock_digid_metadata(context: BrokerContext) -> bytes:
    """Mock DigiD's signed IdP metadata, built in process (no HTTP)."""
    return mock_idps.idp_metadata(context, SPEC)


def create_mock_digid(context: BrokerContext, csrf: CSRFProtect,
                      service_providers: ServiceProviders) -> Blueprint:
    """The mock DigiD blueprint at /mock/digid, answering the SPs ``service_providers()``
    returns the metadata of (read per request, so connectors added later are trusted)."""
    bp = Blueprint("mock_digid", __name__, url_prefix=SPEC.prefix)
    views.add_protocol_routes(bp, context, SPEC, csrf, service_providers)

    @bp.route("/login/<ticket>", methods=["GET", "POST"])
    def login(ticket: str) -> Response:
        pending = views.pending_or_refuse(context, SPEC, ticket)
        if request.method == "GET":
            return _page(context, ticket, pending)
        if request.form.get("action") == "cancel":
            return views.finish(context, SPEC, ticket, lambda p: engine.answer_error(
                context, SPEC, p, SAML_AUTHN_FAILED, CANCELLED))
        account = views.account_or_page(
            context, SPEC, ticket, pending, lambda **shown: _page(context, ticket, pending, **shown))
        if isinstance(account, Response):
            return account
        if not engine.satisfies(pending, account.level):
            return views.finish(context, SPEC, ticket, lambda p: engine.answer_error(
                context, SPEC, p, SAML_NO_AUTHN_CONTEXT,
                "Level of assurance of the account is too low"))
        content = _content(account, pending, context)
        return views.finish(context, SPEC, ticket,
                            lambda p: engine.answer(context, SPEC, p, content))

    return bp


def _page(context: BrokerContext, ticket: str, pending: PendingRequest, *, status: int = 200,
          **shown: Any) -> Response:
    accounts = [(account, None) for account in _accounts()]
    page = render_template(
        "mock_digid/login.html", ticket=ticket, pending=pending, accounts=accounts,
        level_names=loa.DIGID_LEVEL_NAMES, **shown,
        totp_secret=views.DEMO_TOTP_SECRET, totp_qr=views.demo_totp_qr(SPEC.label),
        attempts_left=engine.attempts_left(context, SPEC, ticket))
    return make_response(page, status)


def _accounts() -> list[MockAccount]:
    rows = db.session.execute(
        select(MockAccount).where(MockAccount.idp == SPEC.idp).order_by(MockAccount.username))
    return list(rows.scalars())


def _content(account: MockAccount, pending: PendingRequest,
             context: BrokerContext) -> messages.AssertionContent:
    attributes: list[tuple[str, tuple[messages.AttributeValue, ...]]] = [
        (ACTING_SUBJECT_ID, (messages.NameIdValue(account.identifier, LEGACY_BSN),)),
    ]
    if pending.service_uuid:
        attributes.append((engine.SERVICE_UUID, (pending.service_uuid,)))
    return messages.AssertionContent(
        name_id=secrets.token_hex(16), authn_context=loa.EIDAS_URI[account.level],
        authn_instant=context.clock(), session_index=messages.new_id(),
        authenticating_authorities=(ENTITY_ID,), attributes=tuple(attributes))
