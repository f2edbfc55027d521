#!/bin/sh
# mkiso.sh OUT PHASE KERNEL INITRD — a GRUB2 (BIOS) rescue ISO that boots KERNEL by
# multiboot2 with INITRD as its module, at once (timeout=0). Built in a private
# directory and moved into place, so a QEMU or a second make never sees half an ISO.
set -eu
out=$1 phase=$2 kernel=$3 initrd=$4
dir=$(mktemp -d "$(dirname "$out")/iso.XXXXXX")
trap 'rm -rf "$dir" "$dir.log" "$dir.iso"' EXIT
mkdir -p "$dir/boot/grub"
cp "$kernel" "$dir/boot/kernel.elf"
cp "$initrd" "$dir/boot/initrd.tar"
cat > "$dir/boot/grub/grub.cfg" <<CFG
set timeout=0
set default=0
menuentry "stacklabs lab $phase" {
	multiboot2 /boot/kernel.elf
	module2 /boot/initrd.tar initrd
	boot
}
CFG
grub-mkrescue -d /usr/lib/grub/i386-pc --compress=no \
	--install-modules="multiboot2 normal iso9660 biosdisk configfile part_msdos part_gpt" \
	--locales= --fonts= --themes= -o "$dir.iso" "$dir" 2>"$dir.log" || {
	cat "$dir.log" >&2
	exit 1
}
mv "$dir.iso" "$out"
echo "  ISO     $out"
