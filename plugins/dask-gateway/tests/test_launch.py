"""Clusters on the real gateway: phases, the name recorded at once, a computation through esap_client, stop."""

import json
import subprocess
from importlib.util import find_spec
from pathlib import Path

import requests
from esap_dask_gateway.facility import DaskGatewayFacility

from esap_core import Cluster, Phase, Secret
from esap_core.testing import RecordingReport

FACILITY = DaskGatewayFacility()
# What a session does with the settings ESAP writes: esap_client.dask(), then a computation on a worker.
COMPUTE = """
import esap_client
from distributed import get_worker
client = esap_client.dask()
print(client.submit(lambda x: x + 1, 41).result())
print(client.submit(lambda: get_worker().address).result())
client.close()
"""


def session_settings(cluster: Cluster) -> dict:
    """The cluster's part of esap_settings.json, as ESAP writes it (esap_core.staging)."""
    revealed = {key: secret.reveal() for key, secret in cluster.credentials.items()}
    return {"cluster": {"name": cluster.name, "dashboard": cluster.dashboard, **cluster.connection, **revealed}}


def compute_in_a_session(dask_gateway, cluster: Cluster, folder: Path) -> list[str]:
    """Run COMPUTE in the gateway's venv (the schedulers' Dask version), with ESAP's client and the settings file."""
    (folder / "esap_settings.json").write_text(json.dumps(session_settings(cluster)))
    client_folder = Path(find_spec("esap_client").origin).parent.parent
    run = subprocess.run(
        [str(dask_gateway.python), "-c", COMPUTE],
        cwd=folder,
        env={"PYTHONPATH": str(client_folder), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


def test_a_cluster_starts_reports_its_phases_and_computes(
    dask_gateway, gateway_facility, researcher, cluster_request, tmp_path
):
    report = RecordingReport()

    cluster = FACILITY.start_cluster(gateway_facility(), cluster_request(workers=1, worker_memory=0.5), report)

    assert report.phases == [Phase.LAUNCHING]
    messages = [call["message"] for call in report.of("phase")]
    assert messages[0] == "Asking Test gateway for a Dask cluster with 1 worker"
    assert messages[1] == f"Dask cluster {cluster.name} requested; waiting for its scheduler"
    assert messages[2] == f"Scheduler running; dashboard: {dask_gateway.url}/clusters/{cluster.name}/status"
    assert messages[-1] == "Workers joining: 1 of 1"
    assert report.of("phase")[-1]["progress"] == 100
    assert report.details == {"cluster": cluster.name}
    assert report.of("ready") == [] and report.of("failed") == []
    assert cluster.dashboard == f"{dask_gateway.url}/clusters/{cluster.name}/status"
    assert cluster.connection == {
        "kind": "dask",
        "address": dask_gateway.url,
        "proxy_address": dask_gateway.proxy_address,
        "cluster": cluster.name,
    }
    assert all(isinstance(secret, Secret) for secret in cluster.credentials.values())
    assert cluster.credentials["tls_key"].reveal().startswith("-----BEGIN PRIVATE KEY-----")
    assert dask_gateway.clusters(researcher)[cluster.name]["options"]["worker_memory"] == 0.5

    answer, worker = compute_in_a_session(dask_gateway, cluster, tmp_path)
    assert answer == "42" and worker.startswith("tls://127.0.0.1:")

    FACILITY.stop_cluster(gateway_facility(), cluster.name, cluster_request().user)
    assert dask_gateway.wait_until_stopped(researcher, cluster.name) == "STOPPED"
    FACILITY.stop_cluster(gateway_facility(), cluster.name, cluster_request().user)  # gone is not an error


def test_a_cluster_on_its_own_opens_its_dashboard(dask_gateway, gateway_facility, researcher, cluster_request):
    report = RecordingReport()

    FACILITY.launch(gateway_facility(), cluster_request(), report)

    name = report.details["cluster"]
    assert report.ready_url == f"{dask_gateway.url}/clusters/{name}/status"
    assert report.problems() == []
    counts = requests.get(f"{dask_gateway.url}/clusters/{name}/json/counts.json", timeout=10).json()
    assert counts["workers"] == 1
