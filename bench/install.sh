#!/usr/bin/env bash
# The benchmarks' tools from Debian: wrk (bench/web.py) and hyperfine (bench/startup.py). Idempotent.
set -euo pipefail
missing=()
for tool in wrk hyperfine; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq "${missing[@]}"
fi
