"""axe-core in the page under test: the WCAG 2.1 AA violations that matter (serious and critical), as text.

axe-core is pinned in package.json and copied into ``esap_core/static/vendor`` by
``scripts/vendor_assets.py``; the tests inject it from there (no page of ESAP loads it), by its URL on the
server under test: the pages' Content-Security-Policy allows scripts of their own origin only.
"""

from __future__ import annotations

from pathlib import Path

AXE = Path(__file__).resolve().parent.parent / "esap_core" / "static" / "vendor" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = {"serious", "critical"}

RUN = """async (tags) => {
    const results = await axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
    return results.violations.map((violation) => ({
        id: violation.id, impact: violation.impact, help: violation.help,
        nodes: violation.nodes.slice(0, 5).map((node) => node.target.join(" ") + ": " + node.failureSummary),
    }));
}"""


def serious_violations(page, server_url: str) -> list[dict]:
    """The page's serious and critical WCAG 2.1 A/AA violations, found by axe-core."""
    if not AXE.is_file():
        raise AssertionError(f"{AXE} is missing: run `make setup` (npm ci, then scripts/vendor_assets.py)")
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.add_script_tag(url=f"{server_url}/static/vendor/axe-core/axe.min.js")
    return [violation for violation in page.evaluate(RUN, WCAG_21_AA) if violation["impact"] in BLOCKING]


def described(violations: list[dict]) -> str:
    """The violations as a report a developer can act on."""
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        lines.extend(f"    {node}" for node in violation["nodes"])
    return "\n".join(lines)
