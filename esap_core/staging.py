"""The staging notebook: what every notebook facility puts into a session so the basket's data is at hand.

It lists the launch's data items, and its first cell fetches them with the notebook
client (esap-client), taking the client from ESAP itself when the image lacks it. The
settings file beside it holds ESAP's URL and a short-lived, read-only basket token.
"""

from __future__ import annotations

import json
from typing import Any

NOTEBOOK = "esap_data.ipynb"
SETTINGS = "esap_settings.json"  # a visible name: Jupyter's contents API refuses hidden files

FIRST_CELL = """\
# Fetch the data of ESAP launch {launch_id} into ./data
import importlib.util, json, os, pathlib, urllib.request

os.chmod("{settings}", 0o600)  # it holds a token: keep it to yourself
settings = json.loads(pathlib.Path("{settings}").read_text())
if importlib.util.find_spec("esap_client") is None:  # not in this image: take the client from ESAP itself
    urllib.request.urlretrieve(settings["api_url"] + "/api/v1/client/esap_client.py", "esap_client.py")

from esap_client import Basket

basket = Basket(settings["api_url"], settings["token"])
items = basket.launch_items(settings["launch"])
fetched = {{}}
for item in items:
    try:
        fetched[item["identifier"]] = basket.fetch(item, directory="data")
        print("fetched", item["title"])
    except Exception as error:  # one item's failure should not stop the others
        print("could not fetch", item["title"], "-", error)
"""


def _markdown_text(text: Any) -> str:
    """Untrusted text for a Markdown cell: shown literally, never as markup."""
    escaped = str(text).replace("\\", "\\\\")
    for character in "`*_{}[]()#+-.!|<>":
        escaped = escaped.replace(character, "\\" + character)
    return " ".join(escaped.split())[:300]


def notebook(launch_id: str, software: dict[str, Any], items: list[dict[str, Any]]) -> str:
    import nbformat  # a second of jsonschema set-up: only in the worker that stages a launch
    from nbformat import v4

    lines = [f"# Your data from ESAP\n\nSoftware: **{_markdown_text(software.get('name', ''))}**"]
    if software.get("repository_url"):
        ref = f" at `{_markdown_text(software.get('ref') or 'default')}`"
        lines.append(f"from {_markdown_text(software['repository_url'])}{ref}")
    lines.append(f"\n{len(items)} data item{'s' if len(items) != 1 else ''} from your basket:\n")
    for item in items:
        method = _markdown_text(item.get("fetch", {}).get("method", "none"))
        where = f", at `{_markdown_text(item['staged_path'])}` on this facility" if item.get("staged_path") else ""
        lines.append(f"- {_markdown_text(item['title'])} ({_markdown_text(item['archive'])}, {method}{where})")
    lines.append("\nRun the next cell to fetch them into `data/`; `fetched` maps identifiers to files or tables.")
    book = v4.new_notebook()
    book.cells = [
        v4.new_markdown_cell("\n".join(lines)),
        v4.new_code_cell(FIRST_CELL.format(launch_id=launch_id, settings=SETTINGS)),
    ]
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.validate(book)
    return nbformat.writes(book)


def files(
    launch_id: str, software: dict[str, Any], items: list[dict[str, Any]], api_url: str, token: str
) -> dict[str, str]:
    """File name → text for the session: the notebook and its settings file."""
    settings = {"api_url": api_url.rstrip("/"), "token": token, "launch": launch_id}
    return {NOTEBOOK: notebook(launch_id, software, items), SETTINGS: json.dumps(settings, indent=2)}
