#!/bin/sh
# gdbinit.sh PHASE PORT [ELF] — the GDB script `make gdb` runs. GRUB starts the kernel in
# 32-bit mode; telling GDB the architecture before connecting keeps it from locking
# onto i386 and misreading 64-bit registers later. ELF defaults to the phase's
# build/phaseN/kernel.elf (a replay passes the copy kept with its recording).
phase=$1 port=$2
top=$(cd "$(dirname "$0")/.." && pwd)
elf=${3:-$top/build/phase$phase/kernel.elf}
cat <<GDB
set pagination off
set confirm off
set architecture i386:x86-64
file $elf
target remote localhost:$port
GDB
if [ -f "$top/gdb/stacklabs.py" ]; then
	echo "source $top/gdb/stacklabs.py"
fi
if [ -f "$top/gdb/replay.py" ]; then
	echo "source $top/gdb/replay.py"
fi
