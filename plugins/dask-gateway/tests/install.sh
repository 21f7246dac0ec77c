#!/usr/bin/env bash
# Install the test Dask Gateway (dask-gateway-server with its local backend, in a venv of its own); a fast no-op when done.
#
# The venv lives at /opt/esap-test/dask-gateway-venv (override with ESAP_DASK_GATEWAY_VENV). The
# server wheel carries its compiled proxy, so no Go is needed. distributed is pinned: the schedulers
# and workers the gateway starts run from this venv, and a session's Dask client must match them.
# requests is there for esap-client, whose dask() the plugin's tests run in this venv.
set -euo pipefail

GATEWAY_VERSION=2026.3.0
DISTRIBUTED_VERSION=2026.8.0
VENV="${ESAP_DASK_GATEWAY_VENV:-/opt/esap-test/dask-gateway-venv}"
PYTHON="${PYTHON:-python3}"

installed_version() {
    "$VENV/bin/python" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null || true
}

if [ "$(installed_version dask-gateway-server)" = "$GATEWAY_VERSION" ] \
    && [ "$(installed_version dask-gateway)" = "$GATEWAY_VERSION" ] \
    && [ "$(installed_version distributed)" = "$DISTRIBUTED_VERSION" ] \
    && [ -n "$(installed_version requests)" ]; then
    echo "dask-gateway-server $GATEWAY_VERSION and distributed $DISTRIBUTED_VERSION already installed in $VENV"
    exit 0
fi
if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    apt-get -o DPkg::Lock::Timeout=900 update -qq
    apt-get -o DPkg::Lock::Timeout=900 install -y -qq python3-venv
fi
mkdir -p "$(dirname "$VENV")"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet "dask-gateway-server[local]==$GATEWAY_VERSION" "dask-gateway==$GATEWAY_VERSION" \
    "distributed==$DISTRIBUTED_VERSION" "dask==$DISTRIBUTED_VERSION" requests
echo "dask-gateway-server $GATEWAY_VERSION and distributed $DISTRIBUTED_VERSION installed in $VENV"
