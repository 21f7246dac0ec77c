"""Root pytest configuration: every module in tests/servers/ provides real-server fixtures.

Living at the repository root, these fixtures serve the core's tests and every
plugin's tests alike (plugins/*/tests).
"""

from pathlib import Path

pytest_plugins = ["tests.fixtures"] + [
    f"tests.servers.{path.stem}"
    for path in sorted((Path(__file__).parent / "tests" / "servers").glob("*.py"))
    if path.stem != "__init__"
]
