#!/bin/sh
# mkiso.sh OUT PHASE KERNEL INITRD — a GRUB2 (BIOS) rescue ISO that boots KERNEL by
# multiboot2 with INITRD as its module, at once (timeout=0).
set -eu
out=$1 phase=$2 kernel=$3 initrd=$4
dir=$(dirname "$out")/iso
rm -rf "$dir"
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
	--locales= --fonts= --themes= -o "$out" "$dir" 2>"$dir.log" || {
	cat "$dir.log" >&2
	exit 1
}
echo "  ISO     $out"
