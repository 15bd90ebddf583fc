"""The eHerkenning connector: a :class:`SamlConnector` for businesses, to an eHerkenning
identity provider (herkenningsmakelaar) that speaks the eTD profile, by its metadata (a file or
an http(s) URL, as the generic SAML connector takes it).

eTD differs from DigiD in three ways this class handles: our SP metadata lists one
AttributeConsumingService per eHerkenning service of the catalogue (the AuthnRequest names the
service by its index), levels are eTD assurance classes, and the answer names an employee
(pseudonym) acting for an organisation (KvK number) that the upstream mandate register
authorised for exactly that service. ``RequestDenied`` from the IdP means it did not.
"""

from __future__ import annotations

import hashlib

from broker import identifiers
from broker import loa
from broker.connectors.saml import SamlConnector
from broker.context import BrokerContext
from broker.errors import SAML_REQUEST_DENIED
from broker.errors import BrokerError
from broker.errors import NoLoginMethodError
from broker.errors import RepresentationError
from broker.errors import UpstreamResponseError
from broker.flow import Flow
from broker.identity import Identity
from broker.identity import Party
from broker.saml import messages
from broker.saml import names

#: AttributeConsumingService indexes are drawn from 1..MAX_INDEX (xs:unsignedShort fits).
MAX_INDEX = 9999
_MAX_PSEUDONYM = 120
_MAX_NAME = 200


class EherkenningConnector(SamlConnector):
    service_attribute: str = names.ETD_SERVICE_UUID

    def __init__(self, *, name: str, context: BrokerContext, label: str = "eHerkenning",
                 via: str = "eherkenning", metadata: str | None = None,
                 idp_entity_id: str | None = None, sign_requests: bool = True) -> None:
        super().__init__(name=name, context=context, label=label, via=via, metadata=metadata,
                         idp_entity_id=idp_entity_id, sign_requests=sign_requests)

    # -- the request -------------------------------------------------------------------------

    def consuming_services(self) -> tuple[tuple[int, str, str], ...]:
        """One AttributeConsumingService per service logged in to via eHerkenning: the
        catalogue's and the broker's own (the organisation portal)."""
        internal = [s for s in self.context.internal_services.values() if s.via == self.via]
        services = [s for s in self.context.catalogue() if s.via == self.via] + internal
        indexes = service_indexes([s.uuid for s in services])
        return tuple(sorted((indexes[s.uuid], s.name, s.uuid) for s in services))

    def consuming_service_index(self, flow: Flow) -> int | None:
        for index, _, uuid in self.consuming_services():
            if uuid == flow.service:
                return index
        raise NoLoginMethodError(f"{self.name}: service is not an eHerkenning service")

    def requested_contexts(self, flow: Flow) -> list[str]:
        """The eTD assurance class of the flow's level (EH2 for anything below low)."""
        level = flow.min_loa if flow.min_loa in loa.ETOEGANG_URI else "low"
        return [loa.ETOEGANG_URI[level]]

    # -- the answer --------------------------------------------------------------------------

    def status_error(self, error: messages.StatusError) -> BrokerError:
        if error.sub_code == SAML_REQUEST_DENIED:
            return RepresentationError(
                f"{self.name}: IdP reports RequestDenied",
                public_nl="U bent door uw organisatie niet gemachtigd voor deze dienst.",
                public_en="Your organisation has not authorised you for this service.")
        return super().status_error(error)

    def identity_for(self, flow: Flow, verified: messages.VerifiedAssertion) -> Identity:
        """The identity, once the assertion is shown to be about the flow's service."""
        services = verified.attributes.get(names.ETD_SERVICE_UUID, ())
        if services != (flow.service,):
            raise UpstreamResponseError(f"{self.name}: assertion is not for the flow's service")
        return self.identity(verified)

    def identity(self, verified: messages.VerifiedAssertion) -> Identity:
        """The employee (pseudonym) acting for the organisation (KvK number, company name)."""
        level = loa.from_uri(verified.authn_context)
        if level is None:
            raise UpstreamResponseError(f"{self.name}: unknown AuthnContextClassRef")
        attributes = {names.ETD_SERVICE_UUID: verified.attributes.get(names.ETD_SERVICE_UUID, ())}
        branch = self._branch(verified)
        if branch:
            attributes[names.ETD_BRANCH] = (branch,)
        return Identity(
            acting=Party(id=self._pseudonym(verified), id_type="pseudonym"),
            organisation=Party(id=self._kvk(verified), id_type="kvk",
                               name=self._company_name(verified)),
            loa=level, connector=self.name, authn_instant=verified.authn_instant,
            upstream_issuer=verified.issuer, attributes=attributes)

    def _pseudonym(self, verified: messages.VerifiedAssertion) -> str:
        values = _qualified(verified, names.ETD_ACTING_SUBJECT_ID, names.ETD_PSEUDO)
        if len(values) != 1:
            raise UpstreamResponseError(f"{self.name}: assertion names no single pseudonym")
        value = values[0]
        if not value or len(value) > _MAX_PSEUDONYM or not (value.isascii() and value.isprintable()):
            raise UpstreamResponseError(f"{self.name}: acting pseudonym is not usable")
        return value

    def _kvk(self, verified: messages.VerifiedAssertion) -> str:
        values = _qualified(verified, names.ETD_LEGAL_SUBJECT_ID, names.ETD_KVKNR)
        if len(values) != 1:
            raise UpstreamResponseError(f"{self.name}: assertion names no single KvK number")
        if not identifiers.is_kvk(values[0]):
            raise UpstreamResponseError(f"{self.name}: legal subject is not a valid KvK number")
        return values[0]

    def _company_name(self, verified: messages.VerifiedAssertion) -> str | None:
        values = verified.attributes.get(names.ETD_COMPANY_NAME, ())
        if len(values) != 1 or not values[0].strip():
            return None
        return values[0].strip()[:_MAX_NAME]

    def _branch(self, verified: messages.VerifiedAssertion) -> str | None:
        values = verified.attributes.get(names.ETD_BRANCH, ())
        if not values:
            return None
        if len(values) != 1 or not identifiers.is_branch_number(values[0]):
            raise UpstreamResponseError(f"{self.name}: branch restriction is not one branch "
                                        "number")
        return values[0]


def service_indexes(uuids: list[str]) -> dict[str, int]:
    """A stable AttributeConsumingServiceIndex per ServiceUUID: derived from the UUID, so adding
    a service does not renumber the others (a clash moves the later UUID to the next index)."""
    taken: set[int] = set()
    indexes: dict[str, int] = {}
    for uuid in sorted(set(uuids)):
        index = int(hashlib.sha256(uuid.encode()).hexdigest()[:8], 16) % MAX_INDEX + 1
        while index in taken:
            index = index % MAX_INDEX + 1
        taken.add(index)
        indexes[uuid] = index
    return indexes


def _qualified(verified: messages.VerifiedAssertion, name: str, qualifier: str) -> list[str]:
    """The values of attribute ``name`` that are NameIDs with NameQualifier ``qualifier``."""
    prefix = qualifier + "|"
    return [value[len(prefix):] for value in verified.attributes.get(name, ())
            if value.startswith(prefix)]
