"""Build and pip-install a throw-away plugin distribution into a temporary folder, as a partner would ship one."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def install_plugin(tmp_path: Path, name: str, source: str) -> Path:
    """Write a distribution ``esap-<name>`` with entry point ``<name>``, pip-install it; return its folder.

    Put the returned folder on ``sys.path`` (or ``PYTHONPATH``) to make it an installed plugin.
    """
    package = f"esap_{name.replace('-', '_')}"
    project = tmp_path / f"src-{name}"
    (project / package).mkdir(parents=True)
    (project / package / "__init__.py").write_text(textwrap.dedent(source))
    (project / "pyproject.toml").write_text(
        textwrap.dedent(f"""\
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"

        [project]
        name = "esap-{name}"
        version = "1.2.3"

        [project.entry-points.esap]
        {name} = "{package}"
        """)
    )
    target = tmp_path / f"site-{name}"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(project),
        ],
        check=True,
    )
    return target
