"""The servers every plugin carries for tests are loaded side by side in the whole repository's run
(the root conftest.py): two plugins that named a fixture alike would silently get one of them."""

import importlib
from collections import defaultdict
from pathlib import Path

from _pytest.fixtures import FixtureFunctionDefinition

ROOT = Path(__file__).parent.parent


def fixtures_of(module_name: str) -> set[str]:
    module = importlib.import_module(module_name)
    return {value.name for value in vars(module).values() if isinstance(value, FixtureFunctionDefinition)}


def test_no_two_plugins_testing_modules_define_a_fixture_of_the_same_name():
    modules = [f"{path.parent.name}.testing" for path in sorted(ROOT.glob("plugins/*/esap_*/testing.py"))]
    owners = defaultdict(list)
    for module in [*modules, "esap_core.testing"]:
        for name in fixtures_of(module):
            owners[name].append(module)
    assert len(modules) >= 5  # the shipped plugins' servers were found
    assert {name: where for name, where in owners.items() if len(where) > 1} == {}
