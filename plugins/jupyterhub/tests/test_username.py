"""The hub username: a template over the user's claims, reduced to a safe name."""

import pytest
from esap_jupyterhub.username import MAX_LENGTH, hub_username

from esap_core import FacilityError, UserContext


def user(**claims):
    return UserContext(username="esap-name", claims=claims)


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"preferred_username": "jdoe"}, "jdoe"),
        ({"preferred_username": "Jane Doe"}, "jane-doe"),
        ({"preferred_username": "jane@example.org"}, "jane-example.org"),
        ({"preferred_username": "../../etc/passwd"}, "etc-passwd"),
        ({"preferred_username": "Zoë_Ω"}, "zo"),
    ],
)
def test_claims_become_safe_names(claims, expected):
    assert hub_username("{preferred_username}", user(**claims)) == expected


def test_the_template_may_combine_claims_and_the_esap_username():
    assert hub_username("{username}-{sub}", user(sub="1234")) == "esap-name-1234"


def test_names_are_bounded():
    assert len(hub_username("{preferred_username}", user(preferred_username="a" * 500))) == MAX_LENGTH


def test_a_missing_claim_is_named():
    with pytest.raises(FacilityError, match="needs the claim 'preferred_username'"):
        hub_username("{preferred_username}", user(email="x@example.org"))


def test_a_name_with_nothing_usable_is_refused():
    with pytest.raises(FacilityError, match=r"no usable hub username from '\.\.\.'"):
        hub_username("{preferred_username}", user(preferred_username="..."))


@pytest.mark.parametrize("template", ["{}", "{claims.__class__}", "{preferred_username[0]}", "{unclosed"])
def test_templates_may_only_name_claims(template):
    with pytest.raises(FacilityError, match="username_template"):
        hub_username(template, user(preferred_username="jdoe"))
