"""Every hook of the contract has a test of its own in the core suite: a test file that implements it."""

import re
from pathlib import Path

from esap_core import hookspecs

TESTS = Path(__file__).parent


def implementing_files(hook: str) -> list[str]:
    """Core test files that register an implementation of ``hook`` (in code, or in a plugin's source text)."""
    implementation = re.compile(r"@hookimpl(?:\s|\\n)+def " + re.escape(hook) + r"\(")
    return [
        path.name
        for path in sorted(TESTS.glob("test_*.py"))
        if path.name != Path(__file__).name and implementation.search(path.read_text())
    ]


def test_every_hook_is_implemented_by_a_core_test():
    hooks = [name for name, value in vars(hookspecs).items() if hasattr(value, "esap_spec")]
    assert len(hooks) >= 3
    untested = [hook for hook in hooks if not implementing_files(hook)]
    assert not untested, f"no test in tests/ implements {untested}: add one that registers an implementation"


def test_the_search_finds_implementations_and_nothing_else():
    assert "test_plugins.py" in implementing_files("register_archives")
    assert implementing_files("register_archive") == []
