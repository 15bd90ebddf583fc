"""The Dutch SAML vocabularies in one place: ST-SAML (DigiD, Logius) and eTD (eHerkenning)
attribute and identifier names (reference/dutch-mandates.md sections 1.5, 1.6, 2.3)."""

from __future__ import annotations

# ST-SAML (urn:nl-eid-gdi)
ST_SERVICE_UUID = "urn:nl-eid-gdi:1.0:ServiceUUID"
ST_ACTING_SUBJECT_ID = "urn:nl-eid-gdi:1.0:ActingSubjectID"
ST_LEGAL_SUBJECT_ID = "urn:nl-eid-gdi:1.0:LegalSubjectID"
ST_REPRESENTATION_TYPE = "urn:nl-eid-gdi:1.1:RepresentationType"
ST_LEGACY_BSN = "urn:nl-eid-gdi:1.0:id:legacy-BSN"

# eTD (urn:etoegang)
ETD_SERVICE_UUID = "urn:etoegang:core:ServiceUUID"
ETD_SERVICE_ID = "urn:etoegang:core:ServiceID"
ETD_ACTING_SUBJECT_ID = "urn:etoegang:core:ActingSubjectID"
ETD_LEGAL_SUBJECT_ID = "urn:etoegang:core:LegalSubjectID"
ETD_INTERMEDIATE_KVK = "urn:etoegang:1.9:IntermediateEntityID:KvKnr"
ETD_COMPANY_NAME = "urn:etoegang:1.11:attribute-represented:CompanyName"
ETD_BRANCH = "urn:etoegang:1.9:ServiceRestriction:Vestigingsnr"
ETD_PSEUDO = "urn:etoegang:1.13:EntityConcernedID:Pseudo"
ETD_KVKNR = "urn:etoegang:1.9:EntityConcernedID:KvKnr"
ETD_RSIN = "urn:etoegang:1.9:EntityConcernedID:RSIN"

#: Either name under which a service provider names its service.
SERVICE_UUID_NAMES = (ST_SERVICE_UUID, ETD_SERVICE_UUID)

#: The StatusMessage both schemes prescribe for a cancelled login (ST-SAML errorcodes).
CANCELLED = "Authentication cancelled"
