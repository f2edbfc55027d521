# boot32.gdb — the 32-bit half of the GDB pitfall in handouts/gdb.md, run by the
# kit's GDB test (phase 1) before walkthrough.gdb. GRUB enters boot.asm in 32-bit
# protected mode, but GDB decodes with the architecture it was given, i386:x86-64:
# the `inc ecx` (0x41) at the end of this loop reads as a REX prefix.
hbreak *&'_start.fill_pd'
continue
x/7i $pc
delete
