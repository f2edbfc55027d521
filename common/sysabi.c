// Linux's argument checks, in Linux's order, for calls whose work is done elsewhere:
// mmap's arguments are checked here (the errno a bad call gets), then sysmem.c maps.
#include "kernel.h"
#include "syscall.h"
#include "mm.h"

#define PROT_WRITE 2
#define MAP_SHARED 0x01
#define MAP_PRIVATE 0x02
#define MAP_SHARED_VALIDATE 0x03
#define MAP_TYPE 0x0f
#define MAP_FIXED 0x10
#define MAP_ANONYMOUS 0x20
#define MAP_FIXED_NOREPLACE 0x100000

// The console's fds as files: 0 is open read-only, 1 and 2 write-only, and a
// tty cannot be mapped. Linux (mm/mmap.c, do_mmap): a private or shared mapping needs
// a readable file (else EACCES), a shared writable one a writable file (EACCES),
// then a file that can be mapped (ENODEV).
static long
mmap_file_check(u64 prot, u64 flags, u32 fd)
{
	u64 type = flags & MAP_TYPE;
	if (type != MAP_SHARED && type != MAP_SHARED_VALIDATE && type != MAP_PRIVATE)
		return -EINVAL;
	if (type != MAP_PRIVATE && (prot & PROT_WRITE) && fd == 0)
		return -EACCES;
	if (fd != 0)
		return -EACCES;
	return -ENODEV;
}

// mmap's checks in Linux's order (arch/x86/kernel/sys_x86_64.c, mm/mmap.c
// ksys_mmap_pgoff, do_mmap, get_unmapped_area): offset alignment (EINVAL); for a file
// mapping the fd (EBADF); len 0 (EINVAL); len rounded up past 2^64 or above
// TASK_SIZE (ENOMEM); a fixed range above TASK_SIZE (ENOMEM), then a fixed address
// that is not page aligned (EINVAL); the mapping type (EINVAL); a file that cannot
// be mapped. What passes goes to sys_mmap.
long
sys_mmap_checked(u64 addr, u64 len, u64 prot, u64 flags, u64 fd, u64 off)
{
	u32 f = fd;	// an unsigned int on Linux
	if (off % PAGE_SIZE)
		return -EINVAL;
	if (!(flags & MAP_ANONYMOUS) && f > 2)
		return -EBADF;
	if (len == 0)
		return -EINVAL;
	if (ALIGN_UP(len, PAGE_SIZE) == 0 || len > USER_TOP)
		return -ENOMEM;
	if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
		if (addr > USER_TOP - ALIGN_UP(len, PAGE_SIZE))
			return -ENOMEM;
		if (addr % PAGE_SIZE)
			return -EINVAL;
	}
	if (!(flags & MAP_ANONYMOUS))
		return mmap_file_check(prot, flags, f);
	u64 type = flags & MAP_TYPE;
	if (type != MAP_SHARED && type != MAP_SHARED_VALIDATE && type != MAP_PRIVATE)
		return -EINVAL;
	return sys_mmap(addr, len, prot, flags, fd, off);
}
