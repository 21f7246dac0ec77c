#!/usr/bin/env bash
# Install a one-node Slurm with its REST API (Debian 12's 22.05) and the Python environment its test jobs run in.
#
# Idempotent: a fast no-op when done. Needs root. The daemons are not started here: the
# `slurm` fixture (esap_slurm/testing.py) runs its own munged, slurmctld, slurmd and
# slurmrestd in a temp folder. The jobs' environment (papermill, ipykernel, requests) is
# made with Debian's own /usr/bin/python3 outside /root, because REST jobs run as
# slurmrestd's user, nobody, who must be able to read it (ESAP_SLURM_JOB_VENV overrides).
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
PACKAGES=(slurm-wlm slurmctld slurmd slurmrestd munge slurm-client git python3-venv)
VENV="${ESAP_SLURM_JOB_VENV:-/opt/esap-test/slurm-job-venv}"
REQUIREMENTS=(papermill==2.7.0 ipykernel==7.4.0 requests==2.34.2)

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for package in "${PACKAGES[@]}"; do
    is_installed "$package" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    apt-cache show slurmrestd >/dev/null 2>&1 || apt-get -o DPkg::Lock::Timeout=900 update -qq
    apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "slurm $(slurmctld -V | cut -d' ' -f2) and munge installed"

wanted="$(printf '%s\n' "${REQUIREMENTS[@]}" | sort)"
have="$("$VENV/bin/python" -m pip freeze 2>/dev/null | grep -iE '^(papermill|ipykernel|requests)==' | sort || true)"
if [ "$have" = "$wanted" ]; then
    echo "the job environment is in place at $VENV"
else
    mkdir -p "$(dirname "$VENV")"
    /usr/bin/python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}"
    chmod -R a+rX "$VENV"
    echo "the job environment is installed at $VENV"
fi
