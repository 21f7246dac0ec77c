"""The basket API and page: add (one or many, no duplicates), list, remove, clear, errors that lose nothing."""

import json

import pytest
from sqlalchemy import func, select

from esap_core import basket
from esap_core.models import BasketItem, Software
from tests.fixtures import bearer, csrf_headers, make_user

HTTP_ITEM = {
    "archive": "apertif",
    "identifier": "img-1",
    "title": "An image",
    "fetch": {"method": "http", "url": "https://vo.example.org/img-1.fits"},
    "payload": {"ra": 1.5},
}
TAP_ITEM = {
    "archive": "gaia",
    "identifier": "src-42",
    "title": "A source",
    "fetch": {
        "method": "tap",
        "service": "https://tap.example.org/tap",
        "adql": "SELECT * FROM gaia.source WHERE id = 42",
    },
}
RUCIO_ITEM = {
    "archive": "rucio-escape",
    "identifier": "escape:run-7",
    "fetch": {"method": "rucio", "did": "escape:run-7", "host": "https://rucio.example.org"},
    "payload": {"size": 1024},
}


@pytest.fixture
def user_client(app):
    user = make_user(app, "alice")
    return app.test_client(), bearer(app, user), user


def count(db):
    return db.scalar(select(func.count()).select_from(BasketItem))


def test_add_one_then_many_keeps_one_of_each(user_client, db):
    client, auth, _ = user_client
    assert client.post("/api/v1/basket/items", json=HTTP_ITEM, headers=auth).get_json() == {"added": 1, "total": 1}
    answer = client.post(
        "/api/v1/basket/items", json={"items": [HTTP_ITEM, TAP_ITEM, RUCIO_ITEM, TAP_ITEM]}, headers=auth
    )
    assert answer.status_code == 201 and answer.get_json() == {"added": 2, "total": 3}
    assert count(db) == 3


def test_list_shape_and_paging(user_client):
    client, auth, _ = user_client
    client.post("/api/v1/basket/items", json={"items": [HTTP_ITEM, TAP_ITEM, RUCIO_ITEM]}, headers=auth)
    first = client.get("/api/v1/basket/items?page=1&page_size=2", headers=auth).get_json()
    assert first["total"] == 3 and len(first["items"]) == 2 and first["page_size"] == 2
    item = first["items"][0]
    assert {k: item[k] for k in ("kind", "archive", "identifier", "title", "fetch", "payload")} == {
        "kind": "data",
        **HTTP_ITEM,
    }
    second = client.get("/api/v1/basket/items?page=2&page_size=2", headers=auth).get_json()
    assert [i["identifier"] for i in second["items"]] == ["escape:run-7"]
    only_rucio = client.get("/api/v1/basket/items?archive=rucio-escape", headers=auth).get_json()
    assert only_rucio["total"] == 1 and only_rucio["items"][0]["fetch"]["did"] == "escape:run-7"


def test_a_script_may_name_its_own_archive_and_fetch_method(user_client):
    client, auth, _ = user_client
    mine = {"archive": "my-simulation", "identifier": "run-3", "fetch": {"method": "s3", "bucket": "b", "key": "k"}}
    assert client.post("/api/v1/basket/items", json=mine, headers=auth).status_code == 201
    stored = client.get("/api/v1/basket/items", headers=auth).get_json()["items"][0]
    assert stored["fetch"] == {"method": "s3", "bucket": "b", "key": "k"}


def test_software_items_reference_the_record(user_client, db):
    client, auth, user = user_client
    software = Software(
        source="ossr",
        external_id="123",
        name="Gammapy tutorial",
        repository_url="https://github.com/gammapy/gammapy-webpage",
        ref="v1.0",
    )
    private = Software(source="git", external_id="mine", name="Bob's", owner_id=make_user(client.application, "bob").id)
    db.add_all([software, private])
    db.commit()
    answer = client.post("/api/v1/basket/items", json={"kind": "software", "software_id": software.id}, headers=auth)
    assert answer.status_code == 201
    item = client.get("/api/v1/basket/items?kind=software", headers=auth).get_json()["items"][0]
    assert item["kind"] == "software" and item["software"]["id"] == software.id
    assert item["software"]["repository_url"] == "https://github.com/gammapy/gammapy-webpage"
    for missing in (999999, private.id):  # no such record, or somebody else's private one
        refused = client.post("/api/v1/basket/items", json={"kind": "software", "software_id": missing}, headers=auth)
        assert refused.status_code == 400 and "no software with id" in refused.get_json()["message"]


def test_the_whole_basket_as_json_is_the_item_list_in_one_page(user_client, db):
    client, auth, _ = user_client
    software = Software(source="ossr", external_id="7", name="A notebook", repository_url="https://git.example.org/nb")
    db.add(software)
    db.commit()
    mine = {"archive": "my-simulation", "identifier": "run-3", "fetch": {"method": "s3", "bucket": "b", "key": "k"}}
    # fetch and payload are copied into the document as stored: quotes, non-ASCII, nesting and nulls survive
    mine["payload"] = {"note": 'a "quoted" ünïcode ✓ </script>', "nested": {"values": [1, 2.5, None, True]}}
    items = [HTTP_ITEM, TAP_ITEM, RUCIO_ITEM, mine, {"kind": "software", "software_id": software.id}]
    assert client.post("/api/v1/basket/items", json={"items": items}, headers=auth).status_code == 201
    listed = client.get("/api/v1/basket/items", headers=auth).get_json()  # dumped by the documented schema
    whole = client.get("/api/v1/basket", headers=auth)
    assert whole.mimetype == "application/json"
    assert whole.get_json() == {**listed, "page_size": 5} and listed["total"] == 5
    assert whole.get_json()["items"][3]["payload"] == mine["payload"]


def test_the_whole_basket_read_as_rows_is_what_each_item_gives(user_client, db):
    client, auth, user = user_client
    software = Software(source="ossr", external_id="8", name="Another", repository_url="https://git.example.org/a")
    db.add(software)
    db.commit()
    items = [HTTP_ITEM, TAP_ITEM, {"kind": "software", "software_id": software.id}, RUCIO_ITEM]
    assert client.post("/api/v1/basket/items", json={"items": items}, headers=auth).status_code == 201
    with client.application.app_context():
        by_rows = basket.item_dicts(user)
        assert by_rows == [basket.as_dict(item) for item in basket.all_items(user)]
    assert [item["kind"] for item in by_rows] == ["data", "data", "software", "data"]
    assert by_rows[2]["software"]["name"] == "Another" and by_rows[3]["payload"] == {"size": 1024}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({**HTTP_ITEM, "archive": ""}, 400, "needs the name of its archive"),
        ({k: v for k, v in HTTP_ITEM.items() if k != "identifier"}, 400, "needs an identifier"),
        ({**HTTP_ITEM, "fetch": {"url": "https://x"}}, 400, "method: Missing data for required field"),
        ({**HTTP_ITEM, "fetch": {"method": "tap", "service": "https://x"}}, 400, "needs 'adql'"),
        ({**HTTP_ITEM, "fetch": {"method": "http", "url": "file:///etc/passwd"}}, 400, "needs an http(s) URL"),
        ({**HTTP_ITEM, "payload": {"blob": "x" * 70000}}, 413, "over 64 KiB"),
        ({**HTTP_ITEM, "kind": "thing"}, 400, "kind: Must be one of"),
        ({"items": []}, 400, "items: Length must be between 1"),
        ({"items": [HTTP_ITEM, {**TAP_ITEM, "archive": ""}]}, 400, "needs the name of its archive"),
        ({"kind": "software"}, 400, "needs software_id"),
    ],
)
def test_bad_items_are_refused_and_nothing_is_stored(user_client, db, body, status, message):
    client, auth, _ = user_client
    answer = client.post("/api/v1/basket/items", json=body, headers=auth)
    assert answer.status_code == status and message in answer.get_json()["message"], answer.get_json()
    assert count(db) == 0


def test_malformed_json_and_wrong_content_type(user_client, db):
    client, auth, _ = user_client
    broken = client.post("/api/v1/basket/items", data="{not json", headers={**auth, "Content-Type": "application/json"})
    assert broken.status_code == 400 and "Invalid JSON" in broken.get_json()["message"]
    form = client.post("/api/v1/basket/items", data={"archive": "a"}, headers=auth)
    assert form.status_code == 415 and "as JSON" in form.get_json()["message"]
    assert count(db) == 0


def test_remove_one_remove_again_bulk_and_clear(user_client, db):
    client, auth, _ = user_client
    client.post("/api/v1/basket/items", json={"items": [HTTP_ITEM, TAP_ITEM, RUCIO_ITEM]}, headers=auth)
    ids = [item["id"] for item in client.get("/api/v1/basket/items", headers=auth).get_json()["items"]]
    assert client.delete(f"/api/v1/basket/items/{ids[0]}", headers=auth).status_code == 204
    again = client.delete(f"/api/v1/basket/items/{ids[0]}", headers=auth)
    assert again.status_code == 404 and count(db) == 2
    assert client.delete("/api/v1/basket/items", headers=auth).status_code == 400  # neither ids nor all=true
    assert client.delete(f"/api/v1/basket/items?id={ids[1]}&id=999", headers=auth).get_json() == {
        "removed": 1,
        "total": 1,
    }
    assert client.delete("/api/v1/basket/items?all=true", headers=auth).get_json() == {"removed": 1, "total": 0}


def test_scopes(app):
    client = app.test_client()
    user = make_user(app, "carol")
    reader = bearer(app, user, ["basket:read"])
    assert client.get("/api/v1/basket/items", headers=reader).status_code == 200
    refused = client.post("/api/v1/basket/items", json=HTTP_ITEM, headers=reader)
    assert refused.status_code == 403 and "basket:write" in refused.get_json()["message"]
    assert client.get("/api/v1/basket/items").status_code == 200  # the local user's own session
    launch_only = bearer(app, user, ["launch"])
    assert client.get("/api/v1/basket/items", headers=launch_only).status_code == 403


def test_openapi_documents_the_basket_with_examples(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    post = spec["paths"]["/api/v1/basket/items"]["post"]
    assert post["requestBody"]["content"]["application/json"]["example"]["fetch"]["method"] == "http"
    assert "rucio" in spec["components"]["schemas"]["Fetch"]["properties"]["did"]["description"]
    assert {"401", "403", "413", "415"} <= set(post["responses"]) | {"401", "403"}
    export = spec["paths"]["/api/v1/basket"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "text/csv", "application/x-votable+xml"} <= set(export)


def test_page_groups_removes_and_clears(client, db):
    headers = csrf_headers(client)
    client.post("/api/v1/basket/items", json={"items": [HTTP_ITEM, TAP_ITEM]}, headers=headers)
    page = client.get("/basket").get_data(as_text=True)
    assert "apertif" in page and "gaia" in page and "2 items" in page
    item_id = db.scalar(select(BasketItem.id).where(BasketItem.identifier == "img-1"))
    removed = client.post(f"/basket/items/{item_id}/remove", headers={**headers, "HX-Request": "true"})
    assert removed.headers["HX-Trigger"] == "basket-changed" and "<html" not in removed.get_data(as_text=True)
    assert "1 item" in removed.get_data(as_text=True) and "img-1" not in removed.get_data(as_text=True)
    assert client.post(f"/basket/items/{item_id}/remove", headers=headers).status_code == 404
    cleared = client.post("/basket/clear", headers=headers).get_data(as_text=True)
    assert "Your basket is empty" in cleared


def test_add_from_any_page_form(client, db):
    headers = {**csrf_headers(client), "HX-Request": "true"}
    form = {
        "archive": "apertif",
        "identifier": "img-9",
        "title": "<b>bold</b>",
        "fetch": json.dumps({"method": "http", "url": "https://x.example/a.fits"}),
        "payload": "{}",
    }
    answer = client.post("/basket/add", data=form, headers=headers)
    assert answer.status_code == 200 and answer.headers["HX-Trigger"] == "basket-changed"
    assert "Added" in answer.get_data(as_text=True)
    assert "Already" in client.post("/basket/add", data=form, headers=headers).get_data(as_text=True)
    bad = client.post("/basket/add", data={**form, "fetch": "{oops"}, headers=headers)
    assert bad.status_code == 400 and "not valid JSON" in bad.get_data(as_text=True)
    assert count(db) == 1
    assert client.get("/basket/count").get_data(as_text=True).count(">1</span>") == 1


def test_archive_text_is_escaped_on_the_page(client):
    hostile = {**HTTP_ITEM, "title": "<script>alert('x')</script>", "identifier": "<img src=x onerror=alert(1)>"}
    client.post("/api/v1/basket/items", json=hostile, headers=csrf_headers(client))
    page = client.get("/basket").get_data(as_text=True)
    assert "<script>alert" not in page and "<img src=x" not in page and "&lt;script&gt;" in page
