from broker import loa


def test_levels_are_ordered_from_basic_to_high() -> None:
    assert loa.meets("substantial", "low")
    assert loa.meets("substantial", "substantial")
    assert not loa.meets("low", "substantial")
    assert not loa.meets("basic", "low")


def test_uris_map_back_case_insensitively() -> None:
    assert loa.from_uri("http://eidas.europa.eu/LoA/substantial") == "substantial"
    assert loa.from_uri("http://eID.logius.nl/LoA/basic") == "basic"
    assert loa.from_uri("urn:etoegang:core:assurance-class:loa3") == "substantial"
    assert loa.from_uri("urn:unknown") is None


def test_highest_picks_the_strongest_level() -> None:
    assert loa.highest(["low", "high", "substantial"]) == "high"
    assert loa.highest([]) is None
