#!/usr/bin/env bash
# make_zip.sh OUT.zip [LAB] — the Gradescope autograder zip: setup.sh and
# run_autograder at its root, then the grader's tree (grader/, user/, grader/mkbad.py),
# a LAB file when LAB is given, and HIDDEN=DIR (if set) as hidden/.
set -euo pipefail
OUT="$(realpath -m "$1")"
LAB="${2:-}"
HERE="$(cd "$(dirname "$0")" && pwd)"
TOP="$(cd "$HERE/../.." && pwd)"
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT

cp "$HERE/setup.sh" "$HERE/run_autograder" "$STAGE/"
chmod 755 "$STAGE/setup.sh" "$STAGE/run_autograder"
mkdir -p "$STAGE/scripts"
cp -a "$TOP/grader" "$TOP/user" "$STAGE/"
cp -a "$TOP/scripts/deps.sh" "$STAGE/scripts/"
find "$STAGE" -name __pycache__ -prune -exec rm -rf {} +
if [ -n "$LAB" ]; then echo "$LAB" > "$STAGE/LAB"; fi
# The starters as handed out: grading takes only labs/phaseN/ from a submission.
python3 "$TOP/grader/overlay.py" --write "$STAGE/grader/pristine" ${LAB:-1 2 3}
if [ -n "${HIDDEN:-}" ]; then cp -a "$HIDDEN" "$STAGE/hidden"; fi

rm -f "$OUT"
(cd "$STAGE" && python3 - "$OUT" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    for d, dirs, files in os.walk("."):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(d, f)
            z.write(p, os.path.relpath(p, "."))   # keeps the mode bits
PY
)
echo "wrote $OUT"
