"""Inputs that once ended in a 500: each is a 4xx with a message a researcher can read, and nothing is written."""

import json

import pytest
from sqlalchemy import func, select

from esap_core.models import BasketItem, Launch, Software
from tests.fixtures import bearer, csrf_headers, make_user

HUGE = "99999999999999999999"  # past SQLite's 64-bit integers


@pytest.fixture
def software(db):
    record = Software(source="git", external_id="s", name="S", repository_url="https://x.example/r")
    db.add(record)
    db.commit()
    return record


def basket_size(db) -> int:
    return db.scalar(select(func.count()).select_from(BasketItem))


@pytest.mark.parametrize(
    "path",
    [f"/launches/new?software={HUGE}", f"/launches/new?software=-{HUGE}", "/launches/new?software=x"],
)
def test_integer_query_arguments_out_of_range_are_a_404(client, path):
    answer = client.get(path)
    assert answer.status_code == 404 and "no such software" in answer.get_data(as_text=True)


def test_pages_of_results_out_of_range_are_clamped(client):
    assert client.get(f"/software?page={HUGE}").status_code == 200


def test_launch_form_ids_out_of_range_launch_nothing(client, db, software):
    form = {"software_id": HUGE, "facility": "x", "items": [HUGE, "-1", "abc"]}
    answer = client.post("/launches", data=form, headers=csrf_headers(client))
    assert answer.status_code == 400 and "Choose the software" in answer.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(Launch)) == 0


def test_basket_form_ids_out_of_range_add_nothing(client, db):
    answer = client.post("/basket/add", data={"kind": "software", "software_id": HUGE}, headers=csrf_headers(client))
    assert answer.status_code == 400 and "not a software record" in answer.get_data(as_text=True)
    assert basket_size(db) == 0


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def test_json_nested_thousands_deep_is_refused(app, db, software):
    client = app.test_client()
    auth = {**bearer(app, make_user(app, "alice")), "Content-Type": "application/json"}
    item = '{"archive": "a", "identifier": "i", "title": "t", "payload": {"x": ' + deep(5000) + "}}"
    answer = client.post("/api/v1/basket/items", data=item, headers=auth)
    assert answer.status_code == 400 and "nested more than 32 levels" in answer.get_json()["message"]
    launch = f'{{"software_id": {software.id}, "facility": "f", "options": {{"o": {deep(3000)}}}}}'
    answer = client.post("/api/v1/launches", data=launch, headers=auth)
    assert answer.status_code == 400 and "nested more than 32 levels" in answer.get_json()["message"]
    form = {"archive": "a", "identifier": "i", "title": "t", "payload": '{"x": ' + deep(5000) + "}"}
    answer = client.post("/basket/add", data=form, headers=csrf_headers(client))
    assert answer.status_code == 400 and "nested more than 32 levels" in answer.get_data(as_text=True)
    assert basket_size(db) == 0 and db.scalar(select(func.count()).select_from(Launch)) == 0


@pytest.mark.parametrize(("text", "problem"), [("\ud800", "lone surrogate"), ("a\x00b", "NUL character")])
def test_text_that_no_database_stores_is_refused_everywhere(app, db, text, problem):
    client = app.test_client()
    auth = {**bearer(app, make_user(app, "alice")), "Content-Type": "application/json"}
    body = json.dumps({"archive": "a", "identifier": "i", "title": text})  # JSON escapes carry it
    answer = client.post("/api/v1/basket/items", data=body, headers=auth)
    assert answer.status_code == 400 and problem in answer.get_json()["message"]
    encoded = text.encode("utf-8", "surrogatepass").hex("%").upper()
    answer = client.get("/api/v1/software?q=%" + encoded, headers=auth)
    assert answer.status_code in (200, 400) and "Traceback" not in answer.get_data(as_text=True)
    if text == "a\x00b":  # a lone surrogate arrives as invalid UTF-8, which werkzeug reads as U+FFFD
        assert answer.status_code == 400 and problem in answer.get_json()["message"]
        # Browsers cannot send a lone surrogate in a form (they write U+FFFD), but NUL they can.
        form = {"archive": "a", "identifier": "i", "title": text}
        answer = client.post("/basket/add", data=form, headers=csrf_headers(client))
        assert answer.status_code == 400 and problem in answer.get_data(as_text=True)
    assert basket_size(db) == 0
