"""Which SAML attributes an :class:`~broker.identity.Identity` becomes, per kind of service.

Pure functions, no XML: citizen services (via "digid") get the ST-SAML names, business
services (via "eherkenning") the eTD names (reference/dutch-mandates.md 7.3 (a)-(e)).
Identifiers are sent as plaintext NameIDs inside the AttributeValue (the "plaintext-ids"
form of 7.2); EncryptedID is not supported yet.
"""

from __future__ import annotations

from broker import loa
from broker.identity import Identity
from broker.identity import Link
from broker.identity import Party
from broker.saml import names
from broker.saml.messages import AttributeValue
from broker.saml.messages import NameIdValue
from broker.services import Service

Attributes = tuple[tuple[str, tuple[AttributeValue, ...]], ...]

# ST-SAML (citizens)
ST_SERVICE_UUID = names.ST_SERVICE_UUID
ST_ACTING_SUBJECT = names.ST_ACTING_SUBJECT_ID
ST_LEGAL_SUBJECT = names.ST_LEGAL_SUBJECT_ID
ST_REPRESENTATION_TYPE = names.ST_REPRESENTATION_TYPE
#: NameQualifier per party id_type in ST-SAML identifiers
ST_QUALIFIERS = {
    "bsn": names.ST_LEGACY_BSN,
    "pseudonym": "urn:nl-eid-gdi:1.0:id:Pseudonym",
    "kvk": "urn:nl-eid-gdi:1.0:id:KvKnr",
    "rsin": "urn:nl-eid-gdi:1.0:id:RSIN",
}
#: Only ouderlijk gezag has a standard RepresentationType; the others are the broker's own.
REPRESENTATION_TYPES = {
    "ouderlijk_gezag": "urn:nl-eid-gdi:1.1:RT:Zorg_Volledig_Gezag_Kind",
    "bewind": "urn:mandate-broker:rt:bewindvoering",
    "bewindvoerder": "urn:mandate-broker:rt:bewindvoering",
    "bewindvoering": "urn:mandate-broker:rt:bewindvoering",
    "curatele": "urn:mandate-broker:rt:curatele",
    "curator": "urn:mandate-broker:rt:curatele",
    "mentorschap": "urn:mandate-broker:rt:mentorschap",
    "mentor": "urn:mandate-broker:rt:mentorschap",
}

# eTD (businesses)
ETD_SERVICE_UUID = names.ETD_SERVICE_UUID
ETD_ACTING_SUBJECT = names.ETD_ACTING_SUBJECT_ID
ETD_LEGAL_SUBJECT = names.ETD_LEGAL_SUBJECT_ID
ETD_INTERMEDIATE_KVK = names.ETD_INTERMEDIATE_KVK
#: NameQualifier per party id_type in eTD identifiers
ETD_QUALIFIERS = {
    "pseudonym": names.ETD_PSEUDO,
    "kvk": names.ETD_KVKNR,
    "rsin": names.ETD_RSIN,
    "bsn": "urn:etoegang:1.9:EntityConcernedID:BSN",
}


def for_service(service: Service, identity: Identity) -> Attributes:
    """The attributes for ``identity`` logging in to ``service``, in the service's names."""
    if service.via == "eherkenning":
        return etoegang(service.uuid, identity)
    return st_saml(service.uuid, identity)


def authn_context(service: Service, level: str) -> str:
    """The AuthnContextClassRef for ``level``: eTD classes for business services, else eIDAS."""
    if service.via == "eherkenning" and level in loa.ETOEGANG_URI:
        return loa.ETOEGANG_URI[level]
    return loa.EIDAS_URI[level]


def st_saml(service_uuid: str, identity: Identity) -> Attributes:
    """ST-SAML: ServiceUUID, ActingSubjectID, and for representation LegalSubjectID (+ type)."""
    attributes: list[tuple[str, tuple[AttributeValue, ...]]] = [
        (ST_SERVICE_UUID, (service_uuid,)),
        (ST_ACTING_SUBJECT, (_name_id(identity.acting, ST_QUALIFIERS),)),
    ]
    if identity.represents:
        final = identity.represents[-1]
        attributes.append((ST_LEGAL_SUBJECT, (_name_id(final.party, ST_QUALIFIERS),)))
        representation_type = representation_type_of(final)
        if representation_type:
            attributes.append((ST_REPRESENTATION_TYPE, (representation_type,)))
    return tuple(attributes)


def representation_type_of(link: Link) -> str | None:
    """The RepresentationType URI of a legal-representation link, None for other kinds."""
    if link.kind != "legal" or not link.role:
        return None
    return REPRESENTATION_TYPES.get(link.role.lower())


def etoegang(service_uuid: str, identity: Identity) -> Attributes:
    """eTD: ServiceUUID, ActingSubjectID, LegalSubjectID, and the intermediary of a chain."""
    attributes: list[tuple[str, tuple[AttributeValue, ...]]] = [
        (ETD_SERVICE_UUID, (service_uuid,)),
        (ETD_ACTING_SUBJECT, (_name_id(identity.acting, ETD_QUALIFIERS),)),
    ]
    legal = identity.represented or identity.organisation
    if legal is not None:
        attributes.append((ETD_LEGAL_SUBJECT, (_name_id(legal, ETD_QUALIFIERS),)))
    intermediary = intermediary_of(identity)
    if intermediary is not None:
        attributes.append((ETD_INTERMEDIATE_KVK, (intermediary.id,)))
    return tuple(attributes)


def intermediary_of(identity: Identity) -> Party | None:
    """The intermediary organisation (KvK) of a chain mandate, None otherwise.

    Either the link before the final one, or, when the final link is a chain mandate taken
    directly, the organisation the person logged in for.
    """
    if not identity.represents:
        return None
    if len(identity.represents) > 1:
        candidate: Party | None = identity.represents[-2].party
    elif identity.represents[-1].kind == "chain":
        candidate = identity.organisation
    else:
        candidate = None
    return candidate if candidate is not None and candidate.id_type == "kvk" else None


def _name_id(party: Party, qualifiers: dict[str, str]) -> NameIdValue:
    return NameIdValue(party.id, qualifiers[party.id_type])
