"""The company option of an eHerkenning login.

eHerkenning's mandate register (upstream of the broker) has already checked that the employee
may act for their organisation for the requested service, at this level; the connector checked
that the assertion is about exactly this service. This plugin only turns that into the one
option "for the organisation", for services that accept company representation.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from broker.context import BrokerContext
from broker.identity import Identity
from broker.identity import Link
from broker.pipeline import Option
from broker.saml import names
from broker.services import Service

SERVICE_UUID = names.ETD_SERVICE_UUID
MANDATE_PREFIX = "eherkenning:"


class EherkenningPlugin:
    """One option per eHerkenning login: the organisation the employee logged in for."""

    def __init__(self, *, name: str, context: BrokerContext) -> None:
        self.name = name
        self._context = context

    def options(self, identity: Identity, service: Service, now: datetime) -> list[Option]:
        organisation = identity.organisation
        if organisation is None or organisation.id_type != "kvk":
            return []
        if "company" not in service.accepts:
            return []
        if identity.attributes.get(SERVICE_UUID, ()) != (service.uuid,):
            return []  # the upstream register vouched for another service (or none)
        link = Link(party=organisation, mandate_id=mandate_id(identity, service.uuid),
                    kind="company", services=(service.uuid,))
        return [Option(links=(link,), source=self.name)]


def mandate_id(identity: Identity, service_uuid: str) -> str:
    """A stable reference to the upstream authorisation: the same employee, organisation,
    register and service always give the same id; it reveals none of them."""
    assert identity.organisation is not None
    material = "\n".join((identity.upstream_issuer or "", identity.organisation.id,
                          identity.acting.id, service_uuid))
    return MANDATE_PREFIX + hashlib.sha256(material.encode()).hexdigest()[:32]
