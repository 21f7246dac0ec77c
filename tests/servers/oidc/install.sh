#!/usr/bin/env bash
# Install the test OpenID provider (oidc-provider from npm, run by node); a fast no-op when done.
#
# `npm ci` fills node_modules/ beside this script from package-lock.json. The lock file's
# checksum is kept in node_modules/ so that a changed lock file triggers a new install.
# oidc-provider 9 needs Node.js 20 or newer (Debian 12's own nodejs is 18).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STAMP="$HERE/node_modules/.esap-lock-sha256"

if ! command -v npm >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq nodejs npm
fi
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
    echo "oidc-provider needs Node.js >= 20, found $(node --version)" >&2
    exit 1
fi

checksum="$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)"
if [ -d "$HERE/node_modules/oidc-provider" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$checksum" ]; then
    echo "oidc-provider already installed in $HERE/node_modules"
    exit 0
fi

(cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
echo "$checksum" > "$STAMP"
echo "oidc-provider installed in $HERE/node_modules"
