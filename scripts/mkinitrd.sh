#!/bin/sh
# mkinitrd.sh OUT USERDIR [EXTRADIR] — the initrd: a ustar archive of every program
# in USERDIR, then every executable file in EXTRADIR (same name replaces). OUT is
# rewritten only when its contents change, so make does not rebuild the ISO for nothing.
set -eu
out=$1 userdir=$2 extra=${3:-}
stage=$(mktemp -d "${TMPDIR:-/tmp}/initrd.XXXXXX")
trap 'rm -rf "$stage"' EXIT
for f in "$userdir"/*; do
	[ -f "$f" ] && [ -x "$f" ] && cp "$f" "$stage/"
done
if [ -n "$extra" ]; then
	[ -d "$extra" ] || { echo "mkinitrd: INITRD_EXTRA=$extra is not a directory" >&2; exit 1; }
	for f in "$extra"/*; do
		[ -f "$f" ] && [ -x "$f" ] && cp "$f" "$stage/"
	done
fi
mkdir -p "$(dirname "$out")"
(cd "$stage" && tar --format=ustar --owner=0 --group=0 --numeric-owner --mtime=@0 \
	--sort=name -cf "$stage.tar" -- *)
if cmp -s "$stage.tar" "$out" 2>/dev/null; then
	rm -f "$stage.tar"
else
	mv "$stage.tar" "$out"
	echo "  INITRD  $out ($(ls "$stage" | wc -l) programs)"
fi
