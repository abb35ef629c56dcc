/* The parts of the riscv64 Linux user ABI that the runtime interprets rather than passes through.
 *
 * Everything not listed here is identical between riscv64 (asm-generic) and x86-64 Linux and is
 * passed to the host unchanged: errno values, signal numbers, open/fcntl/at flags, ioctl request
 * numbers, mmap/madvise constants, clock ids, and the layouts of struct timespec, timeval, iovec,
 * statx, statfs, termios, winsize, flock, rlimit, rusage, sysinfo, utsname, pollfd, tms and
 * linux_dirent64.  The structures whose layouts differ are defined below. */
#ifndef AOT_GUEST_LINUX_H
#define AOT_GUEST_LINUX_H

#include <signal.h>
#include <stdint.h>

/* mmap, mremap (include/uapi/asm-generic/mman-common.h) */
#define GUEST_PROT_READ 0x1
#define GUEST_PROT_WRITE 0x2
#define GUEST_PROT_EXEC 0x4
#define GUEST_PROT_GROWSDOWN 0x01000000
#define GUEST_PROT_GROWSUP 0x02000000
#define GUEST_MAP_SHARED 0x01
#define GUEST_MAP_PRIVATE 0x02
#define GUEST_MAP_SHARED_VALIDATE 0x03
#define GUEST_MAP_TYPE 0x0f
#define GUEST_MAP_FIXED 0x10
#define GUEST_MAP_ANONYMOUS 0x20
#define GUEST_MAP_POPULATE 0x8000
#define GUEST_MAP_FIXED_NOREPLACE 0x100000
#define GUEST_MREMAP_MAYMOVE 1
#define GUEST_MREMAP_FIXED 2
#define GUEST_MREMAP_DONTUNMAP 4

/* include/uapi/asm-generic/stat.h: 128 bytes; x86-64's struct stat orders and sizes its fields
 * differently (64-bit st_nlink before st_mode, 64-bit st_blksize). */
struct guest_stat {
    uint64_t st_dev;
    uint64_t st_ino;
    uint32_t st_mode;
    uint32_t st_nlink;
    uint32_t st_uid;
    uint32_t st_gid;
    uint64_t st_rdev;
    uint64_t pad1;
    int64_t st_size;
    int32_t st_blksize;
    int32_t pad2;
    int64_t st_blocks;
    int64_t st_atime_sec;
    uint64_t st_atime_nsec;
    int64_t st_mtime_sec;
    uint64_t st_mtime_nsec;
    int64_t st_ctime_sec;
    uint64_t st_ctime_nsec;
    uint32_t unused4;
    uint32_t unused5;
};
_Static_assert(sizeof(struct guest_stat) == 128, "riscv64 struct stat");

/* struct sigaction is struct guest_sigaction (runtime.h): asm-generic's {handler, flags, mask},
 * without sa_restorer, which riscv does not have. */
#define GUEST_SIGSET_SIZE 8

/* stack_t, for sigaltstack */
struct guest_stack {
    uint64_t ss_sp;
    int32_t ss_flags;
    int32_t pad;
    uint64_t ss_size;
};
#define GUEST_SS_ONSTACK 1
#define GUEST_SS_DISABLE 2
#define GUEST_SS_AUTODISARM (1U << 31)
#define GUEST_MINSIGSTKSZ 2048

/* sa_flags (include/uapi/asm-generic/signal-defs.h) */
#define GUEST_SA_NOCLDSTOP 0x00000001
#define GUEST_SA_NOCLDWAIT 0x00000002
#define GUEST_SA_SIGINFO 0x00000004
#define GUEST_SA_ONSTACK 0x08000000
#define GUEST_SA_RESTART 0x10000000
#define GUEST_SA_NODEFER 0x40000000
#define GUEST_SA_RESETHAND 0x80000000

/* The signal frame of arch/riscv/kernel/signal.c: struct rt_sigframe { siginfo; ucontext }.
 * siginfo_t is the asm-generic 128-byte layout on both sides, so the host's type serves. */
struct guest_sigcontext {
    uint64_t gregs[32];   /* struct user_regs_struct: pc, then x1..x31 */
    /* union __riscv_fp_state, whose largest member (the Q state, 16-byte aligned) sets its size;
     * the D state the kernel saves is f[32] then fcsr. */
    uint64_t fpregs[32] __attribute__((aligned(16)));
    uint32_t fcsr;
    uint8_t fp_rest[528 - 32 * 8 - 4];
};
struct guest_ucontext {
    uint64_t uc_flags;
    uint64_t uc_link;
    struct guest_stack uc_stack;
    uint64_t uc_sigmask;  /* the kernel's sigset_t, then room for glibc's 1024-bit one */
    uint8_t unused[1024 / 8 - 8];
    struct guest_sigcontext uc_mcontext __attribute__((aligned(16)));
};
struct guest_rt_sigframe {
    siginfo_t info;
    struct guest_ucontext uc;
};
_Static_assert(sizeof(struct guest_sigcontext) == 784, "riscv64 struct sigcontext");
_Static_assert(__builtin_offsetof(struct guest_ucontext, uc_mcontext) == 176, "riscv64 ucontext: uc_mcontext");
_Static_assert(__builtin_offsetof(struct guest_ucontext, uc_sigmask) == 40, "riscv64 ucontext: uc_sigmask");
_Static_assert(sizeof(struct guest_ucontext) == 960, "riscv64 struct ucontext");
_Static_assert(sizeof(struct guest_rt_sigframe) == 1088, "riscv64 struct rt_sigframe");

#define GUEST_SIG_BLOCK 0
#define GUEST_SIG_UNBLOCK 1
#define GUEST_SIG_SETMASK 2

#endif
