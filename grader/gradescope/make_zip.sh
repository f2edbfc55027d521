#!/usr/bin/env bash
# make_zip.sh OUT.zip [LAB] — the Gradescope autograder zip: setup.sh and
# run_autograder at its root, then the grader (grader/, user/, scripts/deps.sh), the
# pristine starter of each lab it grades (grader/pristine/labN.tar.gz: grading takes
# only labs/phaseN/ from a submission), a LAB file when LAB is given (without LAB, the
# zip grades labs 1-3 and adds the scores up), and HIDDEN=DIR (if set) as hidden/.
#
# With HIDDEN, the hidden tests are first run on the reference kernel of every phase
# (grade.py --matrix --only-hidden; REFERENCE=DIR: another reference tree) and must give
# exactly their EXPECT row, else no zip is written.  Last, it prints the total to set on
# the Gradescope assignment of each lab it grades.
set -euo pipefail
OUT="$(realpath -m "$1")"
LAB="${2:-}"
HERE="$(cd "$(dirname "$0")" && pwd)"
TOP="$(cd "$HERE/../.." && pwd)"
LABS=${LAB:-1 2 3}
HID=()
if [ -n "${HIDDEN:-}" ]; then
	HID=(--hidden "$(realpath "$HIDDEN")")
	echo "make_zip: checking the hidden tests against the reference (every phase)"
	if ! python3 "$TOP/grader/grade.py" --matrix --only-hidden "${HID[@]}" \
		--tree "${REFERENCE:-$TOP}"; then
		echo "make_zip: the hidden tests do not give their EXPECT rows on the reference: no zip" >&2
		exit 1
	fi
fi
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT

cp "$HERE/setup.sh" "$HERE/run_autograder" "$STAGE/"
chmod 755 "$STAGE/setup.sh" "$STAGE/run_autograder"
mkdir -p "$STAGE/scripts"
cp -a "$TOP/grader" "$TOP/user" "$STAGE/"
cp -a "$TOP/scripts/deps.sh" "$STAGE/scripts/"
find "$STAGE" -name __pycache__ -prune -exec rm -rf {} +
rm -rf "$STAGE/grader/pristine"
python3 "$TOP/grader/overlay.py" --write "$STAGE/grader/pristine" $LABS
if [ -n "$LAB" ]; then echo "$LAB" > "$STAGE/LAB"; fi
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
for n in $LABS; do
	python3 "$TOP/grader/grade.py" --totals --lab "$n" "${HID[@]}" |
		sed "s/^/set the Gradescope assignment's points to this total: /"
done
