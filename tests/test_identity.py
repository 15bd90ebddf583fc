from datetime import UTC
from datetime import datetime

import pytest

from broker.identity import Identity
from broker.identity import Link
from broker.identity import Party

FATIMA = Party(id="999990676", id_type="bsn", name="Fatima El Amrani")
JAN = Party(id="999993653", id_type="bsn", name="Jan Jansen")


def _identity(**changes: object) -> Identity:
    values: dict[str, object] = {
        "acting": FATIMA, "loa": "substantial", "connector": "digid",
        "authn_instant": datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
        "attributes": {"x": ("1", "2")},
    }
    values.update(changes)
    return Identity(**values)  # type: ignore[arg-type]


def test_identity_round_trips_through_dict_with_representation() -> None:
    link = Link(party=JAN, mandate_id="m-1", kind="voluntary",
                services=("92a383fd-f732-5aaf-af23-d9acf46c4c3a",))
    identity = _identity().acting_for(link)
    assert Identity.from_dict(identity.to_dict()) == identity


def test_identity_without_links_acts_for_self() -> None:
    assert _identity().represented is None


def test_represented_is_the_last_link_of_a_chain() -> None:
    office = Party(id="20000002", id_type="kvk")
    bakery = Party(id="10000001", id_type="kvk")
    identity = _identity().acting_for(
        Link(party=office, mandate_id="a", kind="company"),
        Link(party=bakery, mandate_id="b", kind="chain"))
    assert identity.represented == bakery


def test_identity_attributes_cannot_be_changed() -> None:
    identity = _identity()
    with pytest.raises(TypeError):
        identity.attributes["x"] = ("3",)  # type: ignore[index]


def test_identity_refuses_a_naive_authentication_instant() -> None:
    with pytest.raises(ValueError, match="timezone"):
        _identity(authn_instant=datetime(2026, 1, 1))


def test_party_refuses_an_unknown_identifier_type() -> None:
    with pytest.raises(ValueError, match="id_type"):
        Party(id="1", id_type="email")
