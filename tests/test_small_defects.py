"""Smaller trust defects (issue 13, part 5): links, names, caching, challenges, the OpenAPI rules, admins, secrets."""

from esap_core import accounts, facilities
from esap_core.models import BasketItem, RegisteredFacility
from tests.fixtures import bearer, csrf_headers, make_user, sign_in


def test_only_http_urls_become_links(client, db, app):
    with app.app_context():
        user = accounts.local_user()
    for number, url in enumerate(
        ("javascript:alert(1)", "JAVASCRIPT:alert(2)", "data:text/html,x", "https://ok.example/f")
    ):
        db.add(
            BasketItem(
                user_id=user.id, kind="data", archive="a", identifier=str(number), fetch={"method": "mine", "url": url}
            )
        )
    db.commit()
    page = client.get("/basket").get_data(as_text=True)
    assert 'href="https://ok.example/f"' in page
    assert 'href="javascript' not in page.lower() and 'href="data:' not in page
    assert "javascript:alert(1)" in page  # still shown, as text


def test_a_launch_ready_at_a_non_web_address_fails():
    from esap_core.launches import Report
    from esap_core.models import Launch

    class Unsaved(Report):
        def _save(self, force=False):
            pass

    report = Unsaved(Launch(phases=[], details={}))
    report.ready("javascript:alert(1)")
    assert report.launch.status == "failed" and "not a web address" in report.launch.message


def test_private_facility_names_are_per_owner(oidc_app_factory, db):
    app = oidc_app_factory(installed=True, load_plugins=["jupyterhub"], allow_private_facilities=True)
    client = app.test_client()
    alice, bob = make_user(app, "alice"), make_user(app, "bob")
    body = {"name": "my-hub", "kind": "jupyterhub", "url": "http://127.0.0.1:9/", "settings": {"api_token": "t"}}
    assert client.post("/api/v1/facilities", headers=bearer(app, alice, ["launch"]), json=body).status_code == 201
    answer = client.post("/api/v1/facilities", headers=bearer(app, bob, ["launch"]), json=body)
    assert answer.status_code == 201  # neither blocked nor told that alice has one
    again = client.post("/api/v1/facilities", headers=bearer(app, bob, ["launch"]), json=body)
    assert again.status_code == 400 and "already a facility named 'my-hub'" in again.get_json()["message"]
    with app.app_context():
        assert facilities.get_visible(alice, "my-hub").owner_id == alice.id
        assert facilities.get_visible(bob, "my-hub").owner_id == bob.id
    assert db.query(RegisteredFacility).count() == 2


def test_personal_pages_and_the_api_are_not_cached(oidc_app, db):
    client = oidc_app.test_client()
    user = make_user(oidc_app, "carol")
    assert "no-store" not in client.get("/").headers.get("Cache-Control", "")  # anonymous: public
    sign_in(oidc_app, client, user)
    for path in ("/profile", "/basket", "/"):
        assert client.get(path).headers["Cache-Control"] == "no-store", path
    assert client.get("/api/v1/health").headers["Cache-Control"] == "no-store"
    with client.get("/static/esap.css") as static:
        assert "no-store" not in static.headers.get("Cache-Control", "")


def test_api_writes_without_credentials_are_challenged(oidc_app):
    client = oidc_app.test_client()
    answer = client.post("/api/v1/basket/items", json={"archive": "a", "identifier": "i"})
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert "personal API token" in answer.get_json()["message"]
    assert client.post("/basket/add", data={"archive": "a"}).status_code == 403  # pages keep the CSRF check


def test_the_openapi_document_says_what_the_api_enforces(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["paths"]["/api/v1/software"]["get"]["security"] == []
    assert spec["paths"]["/api/v1/software/{software_id}"]["get"]["security"] == []
    parameters = {p["name"]: p for p in spec["paths"]["/api/v1/basket"]["get"]["parameters"]}
    assert parameters["format"]["schema"]["enum"] == ["json", "csv", "votable"]
    removing = {p["name"]: p for p in spec["paths"]["/api/v1/basket/items"]["delete"]["parameters"]}
    assert "one is required" in removing["id"]["description"] and "one is required" in removing["all"]["description"]
    token = spec["components"]["schemas"]["Token"]["properties"]["expires"]
    assert token["pattern"] and "ten years" in token["description"]


def test_admin_by_email_needs_a_verified_email(app_factory):
    app = app_factory(oidc={"admins": ["boss@example.org"]})
    with app.app_context():
        claims = {"sub": "s1", "preferred_username": "boss", "email": "boss@example.org"}
        unverified = accounts.user_from_claims("https://issuer.example", claims)
        assert accounts.is_admin(unverified) is False
        verified = accounts.user_from_claims("https://issuer.example", {**claims, "sub": "s2", "email_verified": True})
        assert accounts.is_admin(verified) is True


def test_environment_references_inside_lists_are_refused_to_users(oidc_app_factory, db, monkeypatch):
    monkeypatch.setenv("ESAP_SECRET_OF_THE_OPERATOR", "s3cret")
    app = oidc_app_factory(installed=True, load_plugins=["jupyterhub"], allow_private_facilities=True)
    auth = bearer(app, make_user(app, "mallory"), ["launch"])
    nested = {"profiles": [{"name": "p", "user_options": {"x": {"env": "ESAP_SECRET_OF_THE_OPERATOR"}}}]}
    for settings in (nested, {"user_options": [{"env": "ESAP_SECRET_OF_THE_OPERATOR"}]}, {"a": [[{"env": "HOME"}]]}):
        body = {"name": "m", "kind": "jupyterhub", "url": "http://127.0.0.1:9/", "settings": settings}
        answer = app.test_client().post("/api/v1/facilities", headers=auth, json=body)
        assert answer.status_code == 400 and "Only admins can reference secrets" in answer.get_json()["message"]
    resolved = facilities.resolve_secrets(nested, lambda name: f"<{name}>")
    assert resolved["profiles"][0]["user_options"]["x"] == "<ESAP_SECRET_OF_THE_OPERATOR>"  # the same shapes


def test_forms_keep_their_csrf_check(client):
    assert client.post("/basket/add", data={"archive": "a"}, headers=csrf_headers(client)).status_code != 403
