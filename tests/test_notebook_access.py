"""Reading the basket from notebooks, over real HTTP: exports for astropy and pandas, the notebook client,
the first ESAP's shape, and concurrent adds."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pandas
import pytest
import requests
from astropy.table import Table
from esap_client import Basket, ESAPError
from sqlalchemy import func, select

from esap_core.models import BasketItem
from tests.fixtures import bearer, make_user

ITEMS = [
    {
        "archive": "apertif",
        "identifier": "img-1",
        "title": "Image, with a comma",
        "fetch": {"method": "http", "url": "https://vo.example.org/img-1.fits"},
        "payload": {"ra": 211.05, "dec": 53.9},
    },
    {
        "archive": "gaia",
        "identifier": "src-<42>",
        "title": 'Source & "quotes"',
        "fetch": {"method": "tap", "service": "https://tap.example.org/tap", "adql": "SELECT * FROM t WHERE id = 42"},
    },
    {
        "archive": "rucio",
        "identifier": "escape:run-7",
        "title": "Run 7",
        "fetch": {"method": "rucio", "did": "escape:run-7", "host": "https://rucio.example.org"},
    },
]


@pytest.fixture
def filled(live_server, committed_app):
    """A user with three items on a real server, and their read token."""
    user = make_user(committed_app, "alice")
    auth = bearer(committed_app, user, ["basket:read", "basket:write"])
    answer = requests.post(f"{live_server.url}/api/v1/basket/items", json={"items": ITEMS}, headers=auth, timeout=10)
    assert answer.json() == {"added": 3, "total": 3}
    return live_server.url, auth["Authorization"].removeprefix("Bearer ")


def test_votable_reads_with_astropy_from_the_url(filled):
    url, token = filled
    table = Table.read(f"{url}/api/v1/basket?format=votable&access_token={token}", format="votable")
    assert len(table) == 3 and list(table["archive"]) == ["apertif", "gaia", "rucio"]
    assert table["title"][1] == 'Source & "quotes"' and table["identifier"][1] == "src-<42>"
    assert json.loads(table["fetch"][2]) == ITEMS[2]["fetch"]
    assert table["access_url"][0] == "https://vo.example.org/img-1.fits"


def test_csv_reads_with_pandas_from_the_url(filled):
    url, token = filled
    frame = pandas.read_csv(f"{url}/api/v1/basket?format=csv", storage_options={"Authorization": f"Bearer {token}"})
    assert list(frame["identifier"]) == ["img-1", "src-<42>", "escape:run-7"]
    assert frame["title"][0] == "Image, with a comma" and json.loads(frame["payload"][0]) == {"dec": 53.9, "ra": 211.05}


def test_formats_by_accept_header_and_errors(filled):
    url, token = filled
    headers = {"Authorization": f"Bearer {token}"}
    csv = requests.get(f"{url}/api/v1/basket", headers={**headers, "Accept": "text/csv"}, timeout=10)
    assert csv.headers["Content-Type"].startswith("text/csv") and csv.text.startswith("id,kind,archive")
    votable = requests.get(
        f"{url}/api/v1/basket", headers={**headers, "Accept": "application/x-votable+xml"}, timeout=10
    )
    assert "<VOTABLE" in votable.text
    plain = requests.get(f"{url}/api/v1/basket", headers=headers, timeout=10).json()
    assert plain["total"] == 3
    unknown = requests.get(f"{url}/api/v1/basket?format=xlsx", headers=headers, timeout=10)
    assert unknown.status_code == 400 and "choose json, csv or votable" in unknown.json()["message"]
    refused = requests.get(f"{url}/api/v1/basket", headers={**headers, "Accept": "image/png"}, timeout=10)
    assert refused.status_code == 406
    assert requests.get(f"{url}/api/v1/basket?format=csv&access_token=wrong", timeout=10).status_code == 401
    # a token in the URL is for downloads only, not for the rest of the API
    assert (
        requests.get(
            f"{url}/api/v1/basket/items?access_token={token}", timeout=10, headers={"Host": "127.0.0.1"}
        ).json()["total"]
        == 0
    )  # the anonymous local user's basket


def test_first_esap_shopping_client_shape(filled):
    url, token = filled
    answer = requests.get(
        f"{url}/esap-api/accounts/user-profiles/", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()
    cart = answer["results"][0]["shopping_cart"]
    assert answer["results"][0]["user_name"] == "alice" and len(cart) == 3
    first = json.loads(cart[0]["item_data"])
    assert first["archive"] == "apertif" and first["record"]["ra"] == 211.05
    assert first["record"]["url"] == "https://vo.example.org/img-1.fits"
    anonymous = requests.get(
        f"{url}/esap-api/accounts/user-profiles/", headers={"Authorization": "Bearer x"}, timeout=10
    )
    assert anonymous.status_code == 401 and "message" in anonymous.json()


def test_notebook_client_reads_fetches_and_adds(filled, tmp_path, monkeypatch):
    url, token = filled
    settings = tmp_path / "esap_settings.json"
    settings.write_text(json.dumps({"api_url": url, "token": token}))
    monkeypatch.delenv("ESAP_API_URL", raising=False)
    monkeypatch.delenv("ESAP_TOKEN", raising=False)
    monkeypatch.setenv("ESAP_SETTINGS", str(settings))
    basket = Basket()
    items = basket.items()
    assert [item["archive"] for item in items] == ["apertif", "gaia", "rucio"]
    assert len(basket.table()) == 3 and list(basket.dataframe()["archive"]) == ["apertif", "gaia", "rucio"]

    assert basket.add("notes", "css", "ESAP's stylesheet", {"method": "http", "url": f"{url}/static/esap.css"})
    assert not basket.add("notes", "css")
    stylesheet = basket.items(archive="notes")[0]
    path = basket.fetch(stylesheet, directory=tmp_path / "data")
    assert path.name.startswith("esap-") and path.suffix == ".css"  # the server's name, made the item's own
    assert path.read_text() == requests.get(f"{url}/static/esap.css", timeout=10).text

    with pytest.raises(ESAPError, match="no known fetch method"):
        basket.fetch({"title": "odd", "fetch": {"method": "carrier-pigeon"}})
    basket.remove(stylesheet)
    with pytest.raises(ESAPError, match="404 .*no such item"):
        basket.remove(stylesheet)
    with pytest.raises(ESAPError, match="401"):
        Basket(api_url=url, token="esap_wrong").items()


def test_items_whose_files_share_a_name_each_get_their_own_file_every_run(filled, tmp_path):
    """Three cone searches all answer 'result.vot': none may overwrite another, and a rerun finds the same files."""
    url, token = filled
    basket = Basket(api_url=url, token=token)
    same_file = {"method": "http", "url": f"{url}/static/esap.css"}
    items = [{"identifier": f"ivo://x/scs?cone-{n}", "title": f"cone {n}", "fetch": same_file} for n in range(3)]
    data = tmp_path / "data"
    first = [basket.fetch(item, directory=data) for item in items]
    assert len(set(first)) == 3 and len(list(data.iterdir())) == 3
    assert [basket.fetch(item, directory=data) for item in items] == first
    hostile = {"identifier": "x", "fetch": {"method": "http", "url": f"{url}/static/esap.css?x=/../../etc/passwd"}}
    assert basket.fetch(hostile, directory=data).parent == data


def test_client_is_importable_without_flask():
    import subprocess
    import sys

    probe = "import sys, esap_client; print([m for m in ('flask', 'sqlalchemy', 'esap_core') if m in sys.modules])"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout == "[]\n"


def test_the_staging_cell_fetches_in_a_python_without_requests(live_server, committed_app, tmp_path):
    """A session image without esap_client nor requests: the first cell takes the client from ESAP and fetches."""
    import subprocess
    import uuid
    import venv

    from esap_core import staging
    from esap_core.models import Launch

    user = make_user(committed_app, "grace")
    token = bearer(committed_app, user, ["basket:read"])["Authorization"].removeprefix("Bearer ")
    item = {"archive": "notes", "identifier": "css", "title": "A stylesheet", "payload": {}}
    item["fetch"] = {"method": "http", "url": f"{live_server.url}/static/esap.css"}
    launch_id = uuid.uuid4().hex
    with committed_app.app_context():
        db = committed_app.extensions["esap.db"].session
        db.add(Launch(id=launch_id, user_id=user.id, facility={}, software={}, data=[item]))
        db.commit()
    session = tmp_path / "session"
    files = staging.files(launch_id, {"name": "Plain"}, [item], live_server.url, token)
    session.mkdir()
    for name, text in files.items():
        (session / name).write_text(text)
    bare = tmp_path / "bare-python"
    venv.create(bare, with_pip=False)  # the standard library only, nothing of this environment's
    python = str(bare / "bin" / "python")
    assert subprocess.run([python, "-c", "import requests"], capture_output=True).returncode != 0
    first_cell = json.loads(files[staging.NOTEBOOK])["cells"][1]["source"]

    ran = subprocess.run(
        [python, "-c", "".join(first_cell)], cwd=session, capture_output=True, text=True, timeout=60, env={}
    )

    assert ran.returncode == 0, ran.stderr
    assert "fetched A stylesheet" in ran.stdout
    assert (session / "esap_client.py").exists()
    [path] = (session / "data").glob("esap-*.css")  # the server's name, with a digest of the item's identifier
    fetched = path.read_text()
    assert fetched == requests.get(f"{live_server.url}/static/esap.css", timeout=10).text


def test_hundred_concurrent_adds_end_with_one_of_each(live_server, committed_app):
    auth = bearer(committed_app, make_user(committed_app, "bob"), ["basket:read", "basket:write"])
    items = [{"archive": "load", "identifier": f"id-{i % 10}", "title": f"item {i % 10}"} for i in range(100)]
    start = threading.Barrier(20)

    def add_after_barrier(item):
        start.wait(timeout=30)  # twenty at a time set off together
        return requests.post(f"{live_server.url}/api/v1/basket/items", json=item, headers=auth, timeout=30)

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(add_after_barrier, items))
    assert all(answer.status_code == 201 for answer in answers), {a.status_code for a in answers}
    assert sum(answer.json()["added"] for answer in answers) == 10
    with committed_app.app_context():
        session = committed_app.extensions["esap.db"].session
        rows = session.execute(select(BasketItem.identifier, func.count()).group_by(BasketItem.identifier)).all()
    assert sorted(rows) == [(f"id-{i}", 1) for i in range(10)]
