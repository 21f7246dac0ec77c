#!/bin/sh
# Install GAVO DaCHS (TAP, cone search) and pgsphere from Debian, for the `dachs` test fixture.
# Idempotent: a fast no-op when everything is in place. Needs root and a running PostgreSQL
# (the DaCHS package's own setup creates the gavo database and its extensions in it).
set -eu

export DEBIAN_FRONTEND=noninteractive

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

# The package's post-install script talks to PostgreSQL: start the cluster if it is down.
if command -v pg_lsclusters >/dev/null && pg_lsclusters -h | grep -q down; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi

# Refresh the package lists only when apt cannot find DaCHS (a fresh machine).
if ! is_installed gavodachs2-server && ! apt-cache show gavodachs2-server >/dev/null 2>&1; then
    apt-get update
fi

is_installed postgresql-15-pgsphere || apt-get install -y --no-install-recommends postgresql-15-pgsphere

# Debian 12's pgsphere 1.2.0 declares two operators "for GAVO DaCHS" whose COMMUTATOR/NEGATOR
# links clash with operators defined earlier in the same script; PostgreSQL 15.8 and later
# reject that ("commutator operator @> is already the commutator of operator <@"), so
# CREATE EXTENSION pg_sphere fails. Dropping the two redundant links fixes it.
script=/usr/share/postgresql/15/extension/pg_sphere--1.2.0.sql
if awk '/backwards-compatible operators for GAVO DaCHS/{c=1} /^-- debugging/{c=0}
        c && /^ *(COMMUTATOR|NEGATOR)/{found=1} END{exit !found}' "$script"; then
    awk '/backwards-compatible operators for GAVO DaCHS/{c=1} /^-- debugging/{c=0}
         c && /^ *(COMMUTATOR|NEGATOR)/{next} {print}' "$script" > "$script.tmp"
    mv "$script.tmp" "$script"
fi

if ! is_installed gavodachs2-server; then
    # Finishes configuring a package left half-done by an earlier run that hit the pgsphere bug.
    dpkg --configure -a
    is_installed gavodachs2-server || apt-get install -y --no-install-recommends gavodachs2-server
fi
