"""Writes a new plugin distribution from the templates beside this module (`esap plugin new`)."""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

TEMPLATES = Path(__file__).parent / "templates"
KINDS = {
    # kind: (class name suffix, the hook, what the app lists it as, what it is)
    "archive": ("Archive", "register_archives", "archive", "an archive of data"),
    "software": ("Source", "register_software_sources", "software source", "a software source"),
    "facility": ("Facility", "register_facility_types", "facility type", "a facility type"),
}
MAX_NAME = 30  # it names URLs, a package and a class; the templates keep to 120 columns up to this length
NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class ScaffoldError(Exception):
    """The plugin cannot be written; the message says why."""


def write(name: str, kind: str, directory: str | Path = ".") -> Path:
    """Write the distribution ``esap-<name>`` for a plugin of ``kind`` into ``directory``; return its folder."""
    if not NAME.match(name) or len(name) > MAX_NAME:
        raise ScaffoldError(
            f"{name!r}: a plugin name is lower-case letters and digits, words joined by -, "
            f"at most {MAX_NAME} characters"
        )
    if kind not in KINDS:
        raise ScaffoldError(f"{kind!r}: the kind is one of {', '.join(KINDS)}")
    name = name.removeprefix("esap-")
    project = Path(directory) / f"esap-{name}"
    if project.exists() and any(project.iterdir()):
        raise ScaffoldError(f"{project} exists and is not empty: choose another name or --directory")
    values = _values(name, kind)
    package = project / values["package"]
    files = {
        project / "pyproject.toml": TEMPLATES / "common" / "pyproject.toml.tmpl",
        project / "README.md": TEMPLATES / "common" / "README.md.tmpl",
        package / "__init__.py": TEMPLATES / "common" / "__init__.py.tmpl",
        package / "plugin.py": TEMPLATES / kind / "plugin.py.tmpl",
        project / "tests" / f"test_{values['package']}.py": TEMPLATES / kind / "test_plugin.py.tmpl",
    }
    for target, template in files.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(Template(template.read_text()).substitute(values))
    return project


def _values(name: str, kind: str) -> dict[str, str]:
    suffix, hook, noun, what = KINDS[kind]
    words = name.split("-")
    return {
        "name": name,
        "distribution": f"esap-{name}",
        "package": "esap_" + "_".join(words),
        "classname": "".join(word.capitalize() for word in words) + suffix,
        "title": " ".join(word.capitalize() for word in words),
        "hook": hook,
        "noun": noun,
        "what": what,
        "kind": kind,
        "constant": "_".join(words).upper(),
    }
