# walkthrough.gdb — the session handouts/gdb.md walks through, run as is by the
# kit's GDB test for every phase (after the lines `make gdb` runs: set
# architecture, file, target remote, source stacklabs.py).
#
# The monitor is driven from the serial side: phase 1 types `run hello` twice (one
# process after the other: phase 1 cannot keep two in the kernel), phases 2 and 3
# type `run hello & hello` once (both processes alive, each with its own stack).

# The first system call of the first process to make one.
hbreak syscall_entry
continue
p current->pid
x/2i $pc
p/x $rsp
while $rsp < 0x800000000000
  stepi
end
p/x $rsp
p/x current->kstack_top
p/x tss.rsp0
ps
kstacks
advance syscall_dispatch
trapframe
x/i $tf->rip - 2
trapframe tf
trapframe current->init_tf
kstack-where $rsp

# The first system call of another process.
set $first = current->pid
condition 1 current->pid != $first
continue
p current->pid
p/x $rsp
while $rsp < 0x800000000000
  stepi
end
p/x $rsp
p/x current->kstack_top
p/x tss.rsp0
kstacks
kstack-where current->kstack_base - 8
kill
