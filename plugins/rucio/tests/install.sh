#!/usr/bin/env bash
# Install the Rucio test server (rucio + gunicorn) into its own venv; a fast no-op when done.
#
# The venv lives at /opt/esap-test/rucio-venv (override with ESAP_RUCIO_VENV); the
# fixture in esap_rucio/testing.py looks there. The plugin's client side,
# rucio-clients, is pinned to the same version in plugins/rucio/pyproject.toml.
set -euo pipefail

RUCIO_VERSION=41.5.1
GUNICORN_VERSION=27.0.1
VENV="${ESAP_RUCIO_VENV:-/opt/esap-test/rucio-venv}"
PYTHON="${PYTHON:-python3}"

if [ -x "$VENV/bin/python" ] && [ -x "$VENV/bin/gunicorn" ] \
    && [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("rucio"))' 2>/dev/null)" = "$RUCIO_VERSION" ]; then
    echo "rucio $RUCIO_VERSION already installed in $VENV"
    exit 0
fi

if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    apt-get update -qq
    apt-get install -y -qq python3-venv
fi

mkdir -p "$(dirname "$VENV")"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet "rucio==$RUCIO_VERSION" "gunicorn==$GUNICORN_VERSION"
echo "rucio $RUCIO_VERSION installed in $VENV"
