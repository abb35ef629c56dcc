/* The guest address space system calls; the work is in addrspace.c. */
#include "syscall.h"

SYSCALL(brk) { return (int64_t)guest_brk(a[0]); }
SYSCALL(mmap) { return guest_mmap(a[0], a[1], (int)a[2], (int)a[3], (int)a[4], a[5]); }
SYSCALL(munmap) { return guest_munmap(a[0], a[1]); }
SYSCALL(mprotect) { return guest_mprotect(a[0], a[1], (int)a[2]); }
SYSCALL(mremap) { return guest_mremap(a[0], a[1], a[2], (int)a[3], a[4]); }
SYSCALL(madvise) { return guest_madvise(a[0], a[1], (int)a[2]); }
SYSCALL(msync) { return guest_msync(a[0], a[1], (int)a[2]); }
