"""Copy the pinned front-end libraries from node_modules into esap_core/static/vendor (run by `make setup`)."""

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "esap_core" / "static" / "vendor"

# node_modules path → path under static/vendor
FILES = {
    "htmx.org/dist/htmx.min.js": "htmx/htmx.min.js",
    "@picocss/pico/css/pico.min.css": "pico/pico.min.css",
    "swagger-ui-dist/swagger-ui.css": "swagger-ui/swagger-ui.css",
    "swagger-ui-dist/swagger-ui-bundle.js": "swagger-ui/swagger-ui-bundle.js",
    "sampjs/samp.js": "sampjs/samp.js",
    # only the browser tests load it (tests/accessibility.py), to measure the pages against WCAG 2.1 AA
    "axe-core/axe.min.js": "axe-core/axe.min.js",
}
# sampjs 1.0.3 ends with a CommonJS export; in a browser that line throws "module is not defined"
# (after `samp` is defined) on every page: the copy leaves it out.
DROPPED_LINES = {"sampjs/samp.js": "module.exports = { samp }"}


def main() -> int:
    for source, target in FILES.items():
        origin = ROOT / "node_modules" / source
        if not origin.is_file():
            print(f"missing {origin}: run `npm ci` first", file=sys.stderr)
            return 1
        destination = TARGET / target
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source in DROPPED_LINES:
            lines = origin.read_text().splitlines(keepends=True)
            destination.write_text("".join(line for line in lines if line.strip() != DROPPED_LINES[source]))
        else:
            shutil.copyfile(origin, destination)
    print(f"copied {len(FILES)} front-end files into {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
