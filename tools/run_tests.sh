#!/usr/bin/env bash
# README quick start, command 2: set the environment up when needed, then
# run the test suite (extra arguments go to pytest, e.g. -m slow).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/tools/setup_env.sh"
cd "$root"
exec "$root/.venv/bin/python" -m pytest "$@"
