#!/usr/bin/env bash
# Install the test JupyterHub (jupyterhub + jupyterlab + a Dask client in a venv, configurable-http-proxy from npm); a fast no-op when done.
#
# The venv lives at /opt/esap-test/jupyterhub-venv (override with ESAP_JUPYTERHUB_VENV);
# the proxy goes into proxy/node_modules/ beside this script, from proxy/package-lock.json.
# The fixture in esap_jupyterhub/testing.py looks in both places.
set -euo pipefail

JUPYTERHUB_VERSION=6.1.1
JUPYTERLAB_VERSION=4.6.6
PROXY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/proxy"
# The user servers' kernel talks to the test Dask Gateway's clusters (plugins/dask-gateway/tests/install.sh):
# its Dask client must be the schedulers' version.
DASK_GATEWAY_VERSION=2026.3.0
DISTRIBUTED_VERSION=2026.8.0
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

if [ "$(installed_version dask-gateway)" = "$DASK_GATEWAY_VERSION" ] \
    && [ "$(installed_version distributed)" = "$DISTRIBUTED_VERSION" ]; then
    echo "dask-gateway $DASK_GATEWAY_VERSION and distributed $DISTRIBUTED_VERSION already installed in $VENV"
else
    "$VENV/bin/pip" install --quiet "dask-gateway==$DASK_GATEWAY_VERSION" "distributed==$DISTRIBUTED_VERSION" \
        "dask==$DISTRIBUTED_VERSION"
    echo "dask-gateway $DASK_GATEWAY_VERSION and distributed $DISTRIBUTED_VERSION installed in $VENV"
fi

# npm ci wipes and rebuilds node_modules: run it only when the lock file is newer than the install.
if [ -x "$PROXY_DIR/node_modules/.bin/configurable-http-proxy" ] \
    && [ "$PROXY_DIR/node_modules/.package-lock.json" -nt "$PROXY_DIR/package-lock.json" ]; then
    echo "configurable-http-proxy already installed in $PROXY_DIR/node_modules"
else
    if ! command -v npm >/dev/null; then
        apt-get update -qq
        apt-get install -y -qq nodejs npm
    fi
    (cd "$PROXY_DIR" && npm ci --no-audit --no-fund --loglevel=error)
    echo "configurable-http-proxy installed in $PROXY_DIR/node_modules"
fi
