"""ESAP loads the plugin through its entry point and lists the facility type; the batch script is valid shell."""

import subprocess

from esap_slurm.script import batch_script
from esap_slurm.settings import SlurmSettings

from esap_core import JobRequest, SoftwareRecord, UserContext


def test_esap_loads_the_plugin(esap_client):
    listed = {plugin["name"]: plugin for plugin in esap_client.get("/api/v1/plugins").get_json()["plugins"]}
    assert listed["slurm"]["registered"] == {"facility type": ["slurm"]}


def settings(container: str = "") -> SlurmSettings:
    return SlurmSettings(
        socket="/run/slurmrestd.socket",
        user_name="",
        token=None,
        partition="",
        work_root="/scratch/esap",
        python="/usr/bin/python3",
        container=container,
        container_runtime="apptainer",
        results_path="/scratch/esap",
        results_url="",
        default_minutes=60,
        max_minutes=60,
        max_cpus=1,
        max_memory_mb=1024,
    )


def request(**values) -> JobRequest:
    software = SoftwareRecord("x", "Tool 'quoted' $(x)", repository_url="https://git.example.org/tool.git", ref="v1")
    return JobRequest("job-1", software, (), UserContext("a'b"), staging=lambda: {"esap_settings.json": "{}"}, **values)


def test_the_container_path_runs_the_software_in_the_named_image():
    script = batch_script(request(command="analyse --all"), settings(container="/images/tool 1.sif"), "job-1")

    assert "RUN=(apptainer exec --bind \"$JOB_DIR\" '/images/tool 1.sif') PY=python3" in script
    assert "venv" not in script
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0


def test_a_notebook_script_is_valid_shell_whatever_the_texts_hold():
    script = batch_script(
        request(notebook="nb/it's.ipynb", parameters={"label": "a'b\"c $(d)", "n": 2, "fast": True}), settings(), "j"
    )

    assert "-r label 'a'\"'\"'b\"c $(d)' -p n 2 -p fast True" in script
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0
