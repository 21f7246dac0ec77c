"""The staging notebook: what every notebook facility puts into a session so the basket's data is at hand.

It lists the launch's data items, and its first cell fetches them with the notebook
client (esap-client), taking the client from ESAP itself when the image lacks it; the
next cell shows how to save results back to the user's workspace. The
settings file beside it holds ESAP's URL and a short-lived, read-only basket token, and,
for a launch with a cluster beside it, how to reach the cluster with the cluster's own
credentials; a cell after the first then connects to it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from esap_core.hookspecs import Cluster

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


# Constant code: it names no file of the user's, so running every cell saves nothing by itself.
SAVE_CELL = """\
# Save your results to your ESAP workspace (run the cell above first). They are listed on ESAP's
# Workspace page, and from there go into the basket of your next launch. For example:
#
#   basket.save("result.fits")                 # keeps its name
#   basket.save("plot.png", "run-1/plot.png")  # or give it a path, with folders, in your workspace
#
# A file larger than one upload may be, or past your quota, is refused with ESAP's message.
print("Your workspace:", settings["api_url"] + "/workspace")
"""


# Constant code: every fact about the cluster is read from the settings file when the cell runs.
CLUSTER_CELL = """\
# Connect to the Dask cluster ESAP started beside this session (run the cell above first)
from esap_client import dask

client = dask()  # a distributed.Client; its dashboard link is in the text above
client
"""


def _markdown_text(text: Any) -> str:
    """Untrusted text for a Markdown cell, shown as it is: a code span, inside which Markdown reads no markup.

    The fence is one backtick longer than any run of backticks in the text (CommonMark 6.1),
    so the text cannot close it, and no backslash escape shows. Whitespace is folded.
    """
    flat = " ".join(str(text).split())[:300]
    if not flat:
        return "` `"
    fence = "`" * (max((len(run) for run in re.findall(r"`+", flat)), default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""  # one space each side is stripped again
    return f"{fence}{pad}{flat}{pad}{fence}"


def notebook(launch_id: str, software: dict[str, Any], items: list[dict[str, Any]]) -> str:
    import nbformat  # a second of jsonschema set-up: only in the worker that stages a launch
    from nbformat import v4

    lines = [f"# Your data from ESAP\n\nSoftware: **{_markdown_text(software.get('name', ''))}**"]
    if software.get("repository_url"):
        ref = f" at {_markdown_text(software.get('ref') or 'default')}"
        lines.append(f"from {_markdown_text(software['repository_url'])}{ref}")
    lines.append(f"\n{len(items)} data item{'s' if len(items) != 1 else ''} from your basket:\n")
    for item in items:
        method = _markdown_text(item.get("fetch", {}).get("method", "none"))
        where = f", at {_markdown_text(item['staged_path'])} on this facility" if item.get("staged_path") else ""
        lines.append(f"- {_markdown_text(item['title'])} ({_markdown_text(item['archive'])}, {method}{where})")
    lines.append("\nRun the next cell to fetch them into `data/`; `fetched` maps identifiers to files or tables.")
    book = v4.new_notebook()
    book.cells = [
        v4.new_markdown_cell("\n".join(lines)),
        v4.new_code_cell(FIRST_CELL.format(launch_id=launch_id, settings=SETTINGS)),
        v4.new_markdown_cell("## Saving results\n\n`basket.save(path)` uploads a file to your ESAP workspace."),
        v4.new_code_cell(SAVE_CELL),
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


def with_cluster(files: Mapping[str, str], cluster: Cluster) -> dict[str, str]:
    """``files`` with the cluster in the settings file (credentials revealed) and a cell that connects to it."""
    import nbformat
    from nbformat import v4

    staged = dict(files)
    if SETTINGS in staged:
        settings = json.loads(staged[SETTINGS])
        revealed = {key: secret.reveal() for key, secret in cluster.credentials.items()}
        settings["cluster"] = {**cluster.connection, **revealed, "name": cluster.name, "dashboard": cluster.dashboard}
        staged[SETTINGS] = json.dumps(settings, indent=2)
    if NOTEBOOK in staged and cluster.connection.get("kind") == "dask":
        book = nbformat.reads(staged[NOTEBOOK], as_version=4)
        dashboard = f" Its dashboard: {_markdown_text(cluster.dashboard)}" if cluster.dashboard else ""
        book.cells += [
            v4.new_markdown_cell(
                f"## Your Dask cluster\n\nESAP started the cluster **{_markdown_text(cluster.name)}** beside "
                f"this session; it stops when the session is stopped.{dashboard}\n\nThe next cell connects "
                "`client` to it (it needs `dask-gateway` and `distributed` in this kernel)."
            ),
            v4.new_code_cell(CLUSTER_CELL),
        ]
        nbformat.validate(book)
        staged[NOTEBOOK] = nbformat.writes(book)
    return staged
