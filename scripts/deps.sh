#!/bin/sh
# deps.sh — make sure the tools a build needs are installed.
#
#   scripts/deps.sh [--check] [TOOL...]
#
# TOOL is a command name from the table in deps_package below (all of them when
# none is given).  If every tool is present: prints nothing, exits 0 (no apt
# call, so it is cheap enough to run before every build).  If some are missing:
#   - on Debian/Ubuntu (apt-get present) and without --check: prints the exact
#     install command, runs it (with sudo when not root), checks again;
#   - with --check, or without apt-get: prints one line per missing tool,
#       missing: TOOL (package PKG)
#     then the command that would install them, and exits 1.
# Exit status: 0 all present (or installed), 1 something missing, 2 bad usage.

# The Debian package that provides each tool, one tool per line.
# grub-mkrescue also needs the BIOS modules in /usr/lib/grub/i386-pc (grub-pc-bin).
deps_package() {
	case "$1" in
	qemu-system-x86_64) echo qemu-system-x86 ;;
	qemu-img) echo qemu-utils ;;
	grub-mkrescue) echo grub-common ;;
	xorriso) echo xorriso ;;
	mformat) echo mtools ;;
	nasm) echo nasm ;;
	musl-gcc) echo musl-tools ;;
	gdb) echo gdb ;;
	gcc) echo gcc ;;
	make) echo make ;;
	python3) echo python3 ;;
	*) return 1 ;;
	esac
}

# Every tool of the table, for a call without TOOL arguments.
DEPS_ALL="qemu-system-x86_64 qemu-img grub-mkrescue xorriso mformat nasm musl-gcc gdb gcc make python3"

# Where grub-mkrescue finds the modules for a BIOS-bootable ISO (override for tests).
GRUB_BIOS_DIR=${GRUB_BIOS_DIR:-/usr/lib/grub/i386-pc}

# Print "TOOL PKG" for each piece of TOOL that is missing (nothing if present).
deps_missing() {
	if ! command -v "$1" >/dev/null 2>&1; then
		echo "$1 $(deps_package "$1")"
	fi
	if [ "$1" = grub-mkrescue ] && [ ! -d "$GRUB_BIOS_DIR" ]; then
		echo "$1 grub-pc-bin"
	fi
}

# Print the install command for the packages given as arguments.
deps_command() {
	sudo=""
	if [ "$(id -u)" != 0 ]; then
		sudo="sudo "
	fi
	apt="${sudo}env DEBIAN_FRONTEND=noninteractive apt-get"
	echo "$apt update && $apt install -y --no-install-recommends $*"
}

# Print the missing list (from stdin, "TOOL PKG" lines) and the command to run.
deps_report() {
	while read -r tool pkg; do
		echo "missing: $tool (package $pkg)"
	done
}

check=0
if [ "$1" = --check ]; then
	check=1
	shift
fi
# shellcheck disable=SC2086 # split the list into one argument per tool
[ $# -gt 0 ] || set -- $DEPS_ALL

missing=""
for tool in "$@"; do
	if ! deps_package "$tool" >/dev/null; then
		echo "deps.sh: unknown tool '$tool' (known: $DEPS_ALL)" >&2
		exit 2
	fi
	missing="$missing$(deps_missing "$tool")
"
done
missing=$(printf '%s' "$missing" | sed '/^$/d')
[ -n "$missing" ] || exit 0

# Each package once, in first-seen order.
pkgs=$(printf '%s\n' "$missing" | awk '!seen[$2]++ { printf "%s%s", sep, $2; sep = " " }')
# shellcheck disable=SC2086 # one argument per package
cmd=$(deps_command $pkgs)

if [ "$check" = 1 ] || ! command -v apt-get >/dev/null 2>&1; then
	printf '%s\n' "$missing" | deps_report
	if command -v apt-get >/dev/null 2>&1; then
		echo "install with: $cmd"
	else
		echo "install with (Debian/Ubuntu package names): $cmd"
	fi
	exit 1
fi

echo "deps.sh: installing: $cmd"
sh -c "$cmd" || exit 1

still=""
for tool in "$@"; do
	still="$still$(deps_missing "$tool")"
done
if [ -n "$still" ]; then
	echo "deps.sh: still missing after the install:"
	exec sh "$0" --check "$@"
fi
exit 0
