#!/usr/bin/env bash
# Builds plait (release, into build/) and runs the task-group demo.
#
#   bash scripts/demo.sh [SEED]     (arguments go to taskgroup_demo)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/deps.sh
cmake -S . -B build -DPLAIT_BUILD_EXAMPLES=ON >/dev/null
cmake --build build -j2 --target taskgroup_demo
exec build/examples/taskgroup_demo "$@"
