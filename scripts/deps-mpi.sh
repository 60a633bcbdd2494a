#!/usr/bin/env bash
# Installs an MPI (Open MPI: mpicc, mpirun and the headers) for the optional
# plait_mpi component and its `mpi` test label, if it is missing. Like
# scripts/deps.sh: Debian/Ubuntu packages, as root or through sudo.
#
#   bash scripts/deps-mpi.sh
set -euo pipefail

pkgs=(openmpi-bin libopenmpi-dev)

if command -v mpicc >/dev/null 2>&1 && command -v mpirun >/dev/null 2>&1; then
    exit 0
fi
if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "deps-mpi.sh: not a Debian/Ubuntu system; install an MPI by hand (mpicc, mpirun)" >&2
    exit 1
fi

as_root=(env DEBIAN_FRONTEND=noninteractive)
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "deps-mpi.sh: need root or sudo to install: ${pkgs[*]}" >&2
        exit 1
    fi
    as_root=(sudo "${as_root[@]}")
fi

# Another apt (an image build, a second job) may hold the dpkg lock for a
# while: wait for it rather than fail at once.
apt_opts=(-o DPkg::Lock::Timeout=600)
echo "deps-mpi.sh: installing ${pkgs[*]}"
"${as_root[@]}" apt-get "${apt_opts[@]}" update -qq
"${as_root[@]}" apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
command -v mpicc >/dev/null 2>&1 || { echo "deps-mpi.sh: mpicc still missing after install" >&2; exit 1; }
