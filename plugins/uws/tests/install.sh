#!/bin/sh
# Install GAVO DaCHS and pgsphere from Debian for the `dachs_uws` fixture (esap_uws/testing.py).
# Idempotent: a fast no-op when everything is in place. Needs root and a running PostgreSQL
# (the DaCHS package's own set-up creates the gavo database and its extensions in it).
set -eu

export DEBIAN_FRONTEND=noninteractive
APT_GET="apt-get -o DPkg::Lock::Timeout=900"

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

if is_installed gavodachs2-server; then
    echo "GAVO DaCHS is installed"
    exit 0
fi

# The package's post-install script talks to PostgreSQL: start the cluster if it is down.
if command -v pg_lsclusters >/dev/null && pg_lsclusters -h | grep -q down; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi

# Refresh the package lists only when apt cannot find DaCHS (a fresh machine).
apt-cache show gavodachs2-server >/dev/null 2>&1 || $APT_GET update -qq
is_installed postgresql-15-pgsphere || $APT_GET install -y -qq --no-install-recommends postgresql-15-pgsphere

# Debian 12's pgsphere 1.2.0 declares two operators "for GAVO DaCHS" whose COMMUTATOR/NEGATOR links clash
# with operators defined before them; PostgreSQL 15.8 and later refuse that, and DaCHS's set-up fails.
# Dropping the two redundant links fixes it.
script=/usr/share/postgresql/15/extension/pg_sphere--1.2.0.sql
if awk '/backwards-compatible operators for GAVO DaCHS/{c=1} /^-- debugging/{c=0}
        c && /^ *(COMMUTATOR|NEGATOR)/{found=1} END{exit !found}' "$script"; then
    awk '/backwards-compatible operators for GAVO DaCHS/{c=1} /^-- debugging/{c=0}
         c && /^ *(COMMUTATOR|NEGATOR)/{next} {print}' "$script" > "$script.tmp"
    mv "$script.tmp" "$script"
fi

dpkg --configure -a  # finishes a package left half-done by an earlier run that hit the pgsphere bug
is_installed gavodachs2-server || $APT_GET install -y -qq --no-install-recommends gavodachs2-server
echo "GAVO DaCHS is installed"
