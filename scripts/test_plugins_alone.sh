#!/usr/bin/env bash
# Run each plugin's tests from a copy of its folder outside the repository, as a partner would.
#
# A plugin must carry the servers and fixtures its tests need (esap_<name>/testing.py,
# tests/install.sh): nothing from ESAP's own tests/ package. The editable installs put the
# repository root on sys.path, so an import of `tests.` would still work from a copy; such
# imports are refused here before the tests run. Usage: scripts/test_plugins_alone.sh [plugin...]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
PYTEST="${PYTEST:-$ROOT/.venv/bin/pytest}"
PLUGINS=("$@")
if [ ${#PLUGINS[@]} -eq 0 ]; then
    for folder in plugins/*/; do PLUGINS+=("$(basename "$folder")"); done
fi

WORK="$(mktemp -d /tmp/esap-plugins-alone.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

failed=()
for name in "${PLUGINS[@]}"; do
    echo "== plugins/$name, from a copy in $WORK/$name"
    if grep -rEn --include='*.py' '^\s*(from|import)\s+tests(\.|\s|$)' "plugins/$name"; then
        echo "plugins/$name imports ESAP's own tests package (above): carry what the tests need in the plugin"
        failed+=("$name")
        continue
    fi
    tar -C plugins --exclude=node_modules --exclude=__pycache__ --exclude=.pytest_cache -cf - "$name" | tar -C "$WORK" -xf -
    started=$SECONDS
    if (cd "$WORK/$name" && "$PYTEST" -q -p no:cacheprovider); then
        echo "== plugins/$name passed alone in $((SECONDS - started)) s"
    else
        failed+=("$name")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "== plugins whose tests fail from a copy of their folder: ${failed[*]}"
    exit 1
fi
echo "== every plugin's tests pass from a copy of its folder (${PLUGINS[*]})"
