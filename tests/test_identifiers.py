import pytest

from broker.errors import InputError
from broker.identifiers import is_branch_number
from broker.identifiers import is_bsn
from broker.identifiers import is_kvk
from broker.identifiers import require_bsn


@pytest.mark.parametrize("bsn", ["999993653", "999990676", "999991772", "999992570", "999990019"])
def test_demo_bsns_pass_the_eleven_test(bsn: str) -> None:
    assert is_bsn(bsn)


@pytest.mark.parametrize("value", ["999993654", "000000000", "12345678", "9999936530", "99999365a", ""])
def test_bad_bsns_fail_the_eleven_test(value: str) -> None:
    assert not is_bsn(value)


def test_require_bsn_cleans_what_a_person_types() -> None:
    assert require_bsn(" 9999.93.653 ") == "999993653"


def test_require_bsn_explains_a_bad_number_in_dutch_and_english() -> None:
    with pytest.raises(InputError, match="elfproef.*11-test"):
        require_bsn("123456789")


def test_kvk_and_branch_numbers_are_checked_by_length_only() -> None:
    assert is_kvk("10000001") and not is_kvk("1000001") and not is_kvk("1000000a")
    assert is_branch_number("000010000001") and not is_branch_number("00001000001")
