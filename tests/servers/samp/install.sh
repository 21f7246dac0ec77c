#!/bin/sh
# Install what the SAMP tests drive besides astropy's hub (tests/servers/samp.py): real TOPCAT, shown on
# a virtual X display (Xvfb, xauth), and ImageMagick's `import` for screenshots of that display.
# Idempotent: a fast no-op when the packages are installed. Needs root. Other agents use apt at the
# same time: wait for its lock rather than fail.
set -eu

PACKAGES="topcat xvfb xauth imagemagick"
missing=""
for package in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $package"
    fi
done
if [ -z "$missing" ]; then
    echo "SAMP test tools already installed ($PACKAGES)"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=900 update -qq
# shellcheck disable=SC2086
apt-get -o DPkg::Lock::Timeout=900 install -y -qq $missing
echo "SAMP test tools installed:$missing"
