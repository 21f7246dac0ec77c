"""hookspecs.py is the whole contract: the core reads nothing of a plugin's object that the contract does not declare.

The core names the objects plugins register ``archive``, ``source``, ``facility_type``,
``storage`` and ``publisher`` (in its modules and its templates); every attribute it reads
through those names must be declared on a contract class of that kind.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import esap_core
from esap_core import hookspecs

PACKAGE = Path(esap_core.__file__).parent
TEMPLATES = PACKAGE.parent / "templates"
# Code that is not the core calling plugins: the contract itself, the conformance suite (it checks
# plugins, so it reads what they got wrong), the core's own built-in plugins and the scaffold.
NOT_CALLERS = {"hookspecs.py", "testing", "builtins", "scaffold", "migrations"}
CONTRACTS = {
    "archive": (hookspecs.Archive, hookspecs.ServiceRegistry, hookspecs.DidCatalogue, hookspecs.StagingArchive),
    "source": (hookspecs.SoftwareSource,),
    "facility_type": (
        hookspecs.FacilityType,
        hookspecs.SessionFacility,
        hookspecs.StopsSessions,
        hookspecs.JobFacility,
        hookspecs.ClusterFacility,
    ),
    "storage": (hookspecs.Storage,),
    "publisher": (hookspecs.Publisher,),
}


def declared(classes: tuple[type, ...]) -> set[str]:
    """Every method, property and class attribute (annotated or assigned) the contract classes declare."""
    names: set[str] = set()
    for cls in classes:
        for klass in cls.__mro__:
            if klass is not object:
                names |= set(vars(klass)) | set(getattr(klass, "__annotations__", {}))
    return {name for name in names if not name.startswith("_")}


def reads_in_python(source: str) -> list[tuple[str, str, int]]:
    """(name, attribute, line) for ``name.attribute`` and ``getattr(name, "attribute")`` on a contract name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in CONTRACTS:
            found.append((node.value.id, node.attr, node.lineno))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr"):
            target, *rest = node.args
            if isinstance(target, ast.Name) and target.id in CONTRACTS and rest and isinstance(rest[0], ast.Constant):
                found.append((target.id, str(rest[0].value), node.lineno))
    return found


def reads_in_template(text: str) -> list[tuple[str, str, int]]:
    pattern = re.compile(r"\b(" + "|".join(CONTRACTS) + r")\.([A-Za-z_]\w*)")
    return [
        (match[1], match[2], text.count("\n", 0, match.start()) + 1)
        for match in pattern.finditer(text)
        if text[match.start() - 1 : match.start()] != "."  # item.archive is a stored name, not the plugin's object
    ]


def undeclared(reads: list[tuple[str, str, int]], where: str) -> list[str]:
    return [
        f"{where}:{line}: {name}.{attribute}"
        for name, attribute, line in sorted(reads, key=lambda read: read[2])
        if attribute not in declared(CONTRACTS[name])
    ]


def core_callers() -> list[Path]:
    return [path for path in PACKAGE.rglob("*.py") if not NOT_CALLERS & set(path.relative_to(PACKAGE).parts)]


def test_the_core_reads_only_what_the_contract_declares():
    problems, reads = [], 0
    for path in core_callers():
        found = reads_in_python(path.read_text())
        reads += len(found)
        problems += undeclared(found, str(path.relative_to(PACKAGE.parent)))
    for path in TEMPLATES.rglob("*.html"):
        found = reads_in_template(path.read_text())
        reads += len(found)
        problems += undeclared(found, str(path.relative_to(PACKAGE.parent)))
    assert reads > 100  # the walk saw the core's calls (every archive page, launch and harvest)
    assert problems == []


def test_the_guard_catches_a_call_the_contract_does_not_declare():
    code = "def f(archive, facility_type):\n    archive.search\n    archive.secret_door()\n"
    code += "    getattr(facility_type, 'x')\n"
    assert undeclared(reads_in_python(code), "m.py") == ["m.py:3: archive.secret_door", "m.py:4: facility_type.x"]
    page = "{{ archive.label }} {{ archive.private_notes }} {{ item.archive.upper() }}"
    assert undeclared(reads_in_template(page), "t.html") == ["t.html:1: archive.private_notes"]
    assert {"service_of", "stage", "scopes", "label", "answers"} <= declared(CONTRACTS["archive"])
