#!/usr/bin/env bash
# flaky.sh [N] [grade.py options...] — run the whole matrix N times (default 20) and
# report whether every verdict was the same every time (and matched docs/design.md).
#   grader/flaky.sh 20            snapshots (the default way of grading)
#   grader/flaky.sh 5 --cold      every test booting through GRUB
set -euo pipefail
n="${1:-20}"
shift || true
exec python3 "$(dirname "$0")/grade.py" --matrix --repeat "$n" "$@"
