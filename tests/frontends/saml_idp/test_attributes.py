"""Attribute naming per service kind: ST-SAML for citizen services, eTD for business ones."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime

from broker.frontends.saml_idp import attributes
from broker.identity import Identity
from broker.identity import Link
from broker.identity import Party
from broker.saml.messages import NameIdValue
from broker.services import Service

DIGID = Service(uuid="92a383fd-f732-5aaf-af23-d9acf46c4c3a", name="IB", via="digid",
                min_loa="substantial")
EH = Service(uuid="ccc77903-dc20-519b-bf8a-35c0b74d02e2", name="OB", via="eherkenning",
             min_loa="substantial")
LEGACY_BSN = "urn:nl-eid-gdi:1.0:id:legacy-BSN"
KVK = "urn:etoegang:1.9:EntityConcernedID:KvKnr"


def _citizen(*links: Link) -> Identity:
    return Identity(acting=Party(id="999990676", id_type="bsn"), loa="substantial",
                    connector="digid", authn_instant=datetime.now(UTC), represents=links)


def _employee(organisation: str, *links: Link) -> Identity:
    return Identity(acting=Party(id="a" * 64 + "@" + "b" * 32, id_type="pseudonym"),
                    organisation=Party(id=organisation, id_type="kvk"), loa="substantial",
                    connector="eh", authn_instant=datetime.now(UTC), represents=links)


def _link(party_id: str, id_type: str, kind: str, role: str | None = None) -> Link:
    return Link(party=Party(id=party_id, id_type=id_type), mandate_id="m1", kind=kind, role=role)


def test_st_saml_for_self_has_service_and_acting_subject_only() -> None:
    result = dict(attributes.for_service(DIGID, _citizen()))
    assert result == {
        "urn:nl-eid-gdi:1.0:ServiceUUID": (DIGID.uuid,),
        "urn:nl-eid-gdi:1.0:ActingSubjectID": (NameIdValue("999990676", LEGACY_BSN),),
    }


def test_st_saml_voluntary_mandate_adds_legal_subject_without_representation_type() -> None:
    result = dict(attributes.for_service(DIGID, _citizen(_link("999993653", "bsn", "voluntary"))))
    assert result["urn:nl-eid-gdi:1.0:LegalSubjectID"] == (NameIdValue("999993653", LEGACY_BSN),)
    assert result["urn:nl-eid-gdi:1.0:ActingSubjectID"] == (NameIdValue("999990676", LEGACY_BSN),)
    assert "urn:nl-eid-gdi:1.1:RepresentationType" not in result


def test_st_saml_bewind_uses_broker_private_representation_type() -> None:
    result = dict(attributes.for_service(
        DIGID, _citizen(_link("999992570", "bsn", "legal", "bewind"))))
    assert result["urn:nl-eid-gdi:1.1:RepresentationType"] == (
        "urn:mandate-broker:rt:bewindvoering",)


def test_st_saml_ouderlijk_gezag_uses_standard_representation_type() -> None:
    result = dict(attributes.for_service(
        DIGID, _citizen(_link("999990019", "bsn", "legal", "ouderlijk_gezag"))))
    assert result["urn:nl-eid-gdi:1.1:RepresentationType"] == (
        "urn:nl-eid-gdi:1.1:RT:Zorg_Volledig_Gezag_Kind",)


def test_representation_type_of_curatele_and_mentorschap_are_private() -> None:
    assert attributes.representation_type_of(_link("1", "bsn", "legal", "curatele")) == (
        "urn:mandate-broker:rt:curatele")
    assert attributes.representation_type_of(_link("1", "bsn", "legal", "mentorschap")) == (
        "urn:mandate-broker:rt:mentorschap")
    assert attributes.representation_type_of(_link("1", "bsn", "voluntary")) is None


def test_etoegang_employee_for_own_company_names_company_as_legal_subject() -> None:
    result = dict(attributes.for_service(EH, _employee("10000001")))
    assert result["urn:etoegang:core:ServiceUUID"] == (EH.uuid,)
    assert result["urn:etoegang:core:ActingSubjectID"] == (NameIdValue(
        "a" * 64 + "@" + "b" * 32, "urn:etoegang:1.13:EntityConcernedID:Pseudo"),)
    assert result["urn:etoegang:core:LegalSubjectID"] == (NameIdValue("10000001", KVK),)
    assert "urn:etoegang:1.9:IntermediateEntityID:KvKnr" not in result
    assert not any(name.startswith("urn:nl-eid-gdi") for name in result)


def test_etoegang_chain_names_client_as_legal_subject_and_intermediary_plainly() -> None:
    identity = _employee("20000002", _link("10000001", "kvk", "chain"))
    result = dict(attributes.for_service(EH, identity))
    assert result["urn:etoegang:core:LegalSubjectID"] == (NameIdValue("10000001", KVK),)
    assert result["urn:etoegang:1.9:IntermediateEntityID:KvKnr"] == ("20000002",)


def test_etoegang_two_link_chain_takes_intermediary_from_first_link() -> None:
    identity = _employee("20000002", _link("20000002", "kvk", "company"),
                         _link("10000001", "kvk", "chain"))
    result = dict(attributes.for_service(EH, identity))
    assert result["urn:etoegang:core:LegalSubjectID"] == (NameIdValue("10000001", KVK),)
    assert result["urn:etoegang:1.9:IntermediateEntityID:KvKnr"] == ("20000002",)


def test_authn_context_uses_eidas_for_digid_and_etd_for_eherkenning() -> None:
    assert attributes.authn_context(DIGID, "substantial") == "http://eidas.europa.eu/LoA/substantial"
    assert attributes.authn_context(EH, "substantial") == "urn:etoegang:core:assurance-class:loa3"
    assert attributes.authn_context(EH, "basic") == "http://eid.logius.nl/LoA/basic"
