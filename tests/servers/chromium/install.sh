#!/bin/sh
# Install Debian's Chromium for the browser tests (driven by Playwright, tests/servers/chromium.py).
# Idempotent: a fast no-op when the package is installed. Needs root.
# Never `playwright install`: it downloads a browser build of its own, which cannot be fetched here.
set -eu

if dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q "install ok installed"; then
    echo "chromium already installed"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium
echo "chromium installed"
