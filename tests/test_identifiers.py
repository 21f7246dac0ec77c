"""One rule for basket identifiers (esap_core.item_identifier): parts encoded, bounded, two rows never merged."""

import urllib.parse

import pytest

from esap_core import MAX_IDENTIFIER, basket, item_identifier
from tests.fixtures import make_user

SERVICE = "https://tap.example.org/tap"


def long_ids() -> tuple[str, str]:
    common = "x" * 1000
    return common + "-first", common + "-second"


def test_short_plain_identifiers_keep_their_text():
    assert item_identifier(SERVICE, {"table": "ivoa.obscore", "id": "obs-1_a.b~c"}) == (
        f"{SERVICE}?table=ivoa.obscore&id=obs-1_a.b~c"
    )
    assert item_identifier(SERVICE, {"name": "ESAP-001"}, separator="#") == f"{SERVICE}#name=ESAP-001"
    assert item_identifier(f"{SERVICE}#0123abcd") == f"{SERVICE}#0123abcd"
    did = "ivo://org.gavo.dc/~?rr/q/obs/42"  # an ObsCore publisher DID: a URI stays readable
    assert item_identifier(SERVICE, {"id": did}, separator="#") == f"{SERVICE}#id={did}"


def test_delimiters_in_parts_are_encoded_so_no_value_passes_for_another_part():
    tricky = item_identifier(SERVICE, {"table": "t", "id": "a&id=b#c%d+e f;g"})
    assert tricky == f"{SERVICE}?table=t&id=a%26id%3Db%23c%25d%2Be%20f%3Bg"
    query = tricky.split("?", 1)[1]
    assert urllib.parse.parse_qs(query) == {"table": ["t"], "id": ["a&id=b#c%d+e f;g"]}
    # before, "a&id=b" and table "t&id=a" with id "b" gave the same text
    assert item_identifier(SERVICE, {"table": "t", "id": "a&id=b"}) != item_identifier(
        SERVICE, {"table": "t&id=a", "id": "b"}
    )
    assert item_identifier(SERVICE, {"a#b": "c"}, separator="#") == f"{SERVICE}#a%23b=c"


def test_long_identifiers_with_a_common_prefix_stay_apart_and_bounded():
    first, second = (item_identifier(SERVICE, {"table": "t", "id": value}) for value in long_ids())
    assert first != second
    assert len(first) <= MAX_IDENTIFIER and len(second) <= MAX_IDENTIFIER
    assert first.startswith(f"{SERVICE}?table=t&id=xxxx")
    assert "~sha256:" in first
    # the same row gives the same identifier, so adding it again is still deduplicated
    assert first == item_identifier(SERVICE, {"table": "t", "id": long_ids()[0]})


def test_a_long_base_alone_is_bounded_too():
    base = SERVICE + "/" + "y" * 2000
    assert len(item_identifier(base)) <= MAX_IDENTIFIER
    assert item_identifier(base) != item_identifier(base + "z")
    assert item_identifier("z" * MAX_IDENTIFIER) == "z" * MAX_IDENTIFIER  # at the limit: unchanged


@pytest.mark.parametrize("cut", range(MAX_IDENTIFIER - 60, MAX_IDENTIFIER - 30))
def test_an_escape_is_never_cut_in_two(cut):
    identifier = item_identifier(SERVICE, {"id": "a" * cut + "&" * 200})
    prefix = identifier.split("~sha256:")[0]
    assert len(identifier) <= MAX_IDENTIFIER
    assert not prefix[-2:].count("%"), prefix[-6:]


def test_odd_text_is_encoded_without_failing():
    assert item_identifier(SERVICE, {"id": "étoile \ud800"}) == f"{SERVICE}?id=%C3%A9toile%20%ED%A0%80"
    assert item_identifier(SERVICE, {"id": 42}) == f"{SERVICE}?id=42"


def test_the_basket_takes_long_ids_as_two_items_and_dedupes_a_row_added_again(app):
    user = make_user(app, "dora")
    first, second = (
        basket.data_item("test-obs", item_identifier(SERVICE, {"table": "t", "id": value})) for value in long_ids()
    )
    with app.app_context():
        assert basket.add(user, [first, second]) == 2
        again = basket.data_item("test-obs", item_identifier(SERVICE, {"table": "t", "id": long_ids()[0]}))
        assert basket.add(user, [again]) == 0
