"""The API's frame: OpenAPI document, docs UI, health, and errors as JSON without tracebacks."""

from flask import jsonify
from sqlalchemy import text

from esap_core import schedule
from esap_core.app import create_app
from tests.fixtures import csrf_headers


def test_openapi_document_lists_core_operations(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    assert {"/api/v1/health", "/api/v1/plugins"} <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_docs_ui_is_served_locally(client):
    page = client.get("/api/v1/docs").get_data(as_text=True)
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page and "//cdn" not in page
    with client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js") as bundle:
        assert bundle.status_code == 200


def test_health_ok(client):
    health = client.get("/api/v1/health").get_json()
    assert health["status"] == "ok" and health["reasons"] == []
    assert health["database"]["ok"] and health["queue"]["ok"]


def test_health_degraded_when_redis_is_down(app_factory):
    client = app_factory(redis_url="redis://127.0.0.1:1/0").test_client()
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    health = response.get_json()
    assert health["status"] == "degraded" and not health["queue"]["ok"] and health["database"]["ok"]
    assert health["reasons"][0].startswith("queue unreachable")
    assert client.get("/").status_code == 200  # pages still serve


def test_enqueue_without_redis_is_a_503_with_a_message(app_factory):
    app = app_factory(redis_url="redis://127.0.0.1:1/0")

    @app.post("/api/v1/test-enqueue")
    def enqueue():
        app.extensions["esap.queue"].enqueue(schedule.tick)
        return jsonify(ok=True)

    client = app.test_client()
    response = client.post("/api/v1/test-enqueue", headers=csrf_headers(client))
    assert response.status_code == 503
    assert response.get_json()["message"].startswith("The job queue is not reachable")


def test_database_down_is_a_503_page_and_json(redis_url, tmp_path):
    app = create_app(
        {
            "database_url": "postgresql://nobody@127.0.0.1:1/none",
            "redis_url": redis_url,
            "instance_path": str(tmp_path),
            "load_plugins": [],
        }
    )

    @app.get("/needs-db")
    @app.get("/api/v1/needs-db")
    def needs_db():
        app.extensions["esap.db"].session.execute(text("SELECT 1"))
        return "never"

    client = app.test_client()
    page = client.get("/needs-db")
    assert page.status_code == 503 and "The database is not reachable" in page.get_data(as_text=True)
    assert "Traceback" not in page.get_data(as_text=True)
    api = client.get("/api/v1/needs-db")
    assert api.status_code == 503 and api.get_json()["message"].startswith("The database is not reachable")
    health = client.get("/api/v1/health").get_json()
    assert health["status"] == "degraded" and not health["database"]["ok"]


def test_api_errors_are_json(client, app):
    @app.get("/api/v1/explode")
    def explode():
        raise RuntimeError("secret internals")

    assert client.get("/api/v1/nope").get_json()["code"] == 404
    response = client.post("/api/v1/health", headers=csrf_headers(client))
    assert response.status_code == 405 and response.get_json()["status"] == "Method Not Allowed"
    crash = client.get("/api/v1/explode")
    assert crash.status_code == 500
    assert "secret internals" not in crash.get_data(as_text=True) and "Traceback" not in crash.get_data(as_text=True)


def test_ids_past_what_the_database_holds_are_not_found(client):
    # Path ids are database integers: a bigger number is a 404 with a message, never an overflow (a 500).
    for path in (
        "/api/v1/basket/items/99999999999999999999999",
        "/api/v1/software/2147483648",
        "/software/1" + "0" * 30,
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Traceback" not in response.get_data(as_text=True)
    assert client.get("/api/v1/basket/items/2147483647").get_json()["message"] == "Your basket has no such item."
    spec = client.get("/api/v1/openapi.json").get_json()
    [parameter] = spec["paths"]["/api/v1/basket/items/{item_id}"]["parameters"]
    assert parameter["schema"] == {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
