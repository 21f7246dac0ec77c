#!/usr/bin/env bash
# Install the test JupyterHub (jupyterhub + jupyterlab in a venv, configurable-http-proxy from npm); a fast no-op when done.
#
# The venv lives at /opt/esap-test/jupyterhub-venv (override with ESAP_JUPYTERHUB_VENV);
# the proxy goes into node_modules/ beside this script, from package-lock.json.
# The fixture in tests/servers/jupyterhub.py looks in both places.
set -euo pipefail

JUPYTERHUB_VERSION=6.1.1
JUPYTERLAB_VERSION=4.6.6
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${ESAP_JUPYTERHUB_VENV:-/opt/esap-test/jupyterhub-venv}"
PYTHON="${PYTHON:-python3}"

installed_version() {
    "$VENV/bin/python" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null || true
}

if [ "$(installed_version jupyterhub)" = "$JUPYTERHUB_VERSION" ] \
    && [ "$(installed_version jupyterlab)" = "$JUPYTERLAB_VERSION" ]; then
    echo "jupyterhub $JUPYTERHUB_VERSION and jupyterlab $JUPYTERLAB_VERSION already installed in $VENV"
else
    if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
        apt-get update -qq
        apt-get install -y -qq python3-venv
    fi
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet "jupyterhub==$JUPYTERHUB_VERSION" "jupyterlab==$JUPYTERLAB_VERSION"
    echo "jupyterhub $JUPYTERHUB_VERSION and jupyterlab $JUPYTERLAB_VERSION installed in $VENV"
fi

# npm ci wipes and rebuilds node_modules: run it only when the lock file is newer than the install.
if [ -x "$HERE/node_modules/.bin/configurable-http-proxy" ] \
    && [ "$HERE/node_modules/.package-lock.json" -nt "$HERE/package-lock.json" ]; then
    echo "configurable-http-proxy already installed in $HERE/node_modules"
else
    if ! command -v npm >/dev/null; then
        apt-get update -qq
        apt-get install -y -qq nodejs npm
    fi
    (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
    echo "configurable-http-proxy installed in $HERE/node_modules"
fi
