/* Guest system calls by number (Linux riscv64 = asm-generic numbering), and aot_ecall.
 * Every number Linux defines has its name here for tracing; the ones with a handler are
 * implemented, the rest return -ENOSYS. */
#include <stdlib.h>

#include "syscall.h"

#define NR_SYSCALLS 451

static const struct syscall_desc syscall_table[NR_SYSCALLS] = {
    [0] = { "io_setup" },
    [1] = { "io_destroy" },
    [2] = { "io_submit" },
    [3] = { "io_cancel" },
    [4] = { "io_getevents" },
    [5] = { "setxattr" },
    [6] = { "lsetxattr" },
    [7] = { "fsetxattr" },
    [8] = { "getxattr" },
    [9] = { "lgetxattr" },
    [10] = { "fgetxattr" },
    [11] = { "listxattr" },
    [12] = { "llistxattr" },
    [13] = { "flistxattr" },
    [14] = { "removexattr" },
    [15] = { "lremovexattr" },
    [16] = { "fremovexattr" },
    [17] = { "getcwd", sys_getcwd, "xu" },
    [18] = { "lookup_dcookie" },
    [19] = { "eventfd2", sys_eventfd2, "ux" },
    [20] = { "epoll_create1", sys_epoll_create1, "x" },
    [21] = { "epoll_ctl", sys_epoll_ctl, "dddx" },
    [22] = { "epoll_pwait", sys_epoll_pwait, "dxddxu" },
    [23] = { "dup", sys_dup, "d" },
    [24] = { "dup3", sys_dup3, "ddx" },
    [25] = { "fcntl", sys_fcntl, "ddx", SC_RESTART },
    [26] = { "inotify_init1" },
    [27] = { "inotify_add_watch" },
    [28] = { "inotify_rm_watch" },
    [29] = { "ioctl", sys_ioctl, "dxx", SC_RESTART },
    [30] = { "ioprio_set" },
    [31] = { "ioprio_get" },
    [32] = { "flock", sys_flock, "dd", SC_RESTART },
    [33] = { "mknodat", sys_mknodat, "asox" },
    [34] = { "mkdirat", sys_mkdirat, "aso" },
    [35] = { "unlinkat", sys_unlinkat, "asx" },
    [36] = { "symlinkat", sys_symlinkat, "sas" },
    [37] = { "linkat", sys_linkat, "asasx" },
    [39] = { "umount2" },
    [40] = { "mount" },
    [41] = { "pivot_root" },
    [42] = { "nfsservctl" },
    [43] = { "statfs", sys_statfs, "sx" },
    [44] = { "fstatfs", sys_fstatfs, "dx" },
    [45] = { "truncate", sys_truncate, "sl" },
    [46] = { "ftruncate", sys_ftruncate, "dl" },
    [47] = { "fallocate", sys_fallocate, "ddll" },
    [48] = { "faccessat", sys_faccessat, "aso" },
    [49] = { "chdir", sys_chdir, "s" },
    [50] = { "fchdir", sys_fchdir, "d" },
    [51] = { "chroot", sys_chroot, "s" },
    [52] = { "fchmod", sys_fchmod, "do" },
    [53] = { "fchmodat", sys_fchmodat, "aso" },
    [54] = { "fchownat", sys_fchownat, "asuux" },
    [55] = { "fchown", sys_fchown, "duu" },
    [56] = { "openat", sys_openat, "asfo", SC_RESTART },
    [57] = { "close", sys_close, "d" },
    [58] = { "vhangup" },
    [59] = { "pipe2", sys_pipe2, "xx" },
    [60] = { "quotactl" },
    [61] = { "getdents64", sys_getdents64, "dxu" },
    [62] = { "lseek", sys_lseek, "dld" },
    [63] = { "read", sys_read, "dxu", SC_RESTART },
    [64] = { "write", sys_write, "dxu", SC_RESTART },
    [65] = { "readv", sys_readv, "dxu", SC_RESTART },
    [66] = { "writev", sys_writev, "dxu", SC_RESTART },
    [67] = { "pread64", sys_pread64, "dxul", SC_RESTART },
    [68] = { "pwrite64", sys_pwrite64, "dxul", SC_RESTART },
    [69] = { "preadv", sys_preadv, "dxul", SC_RESTART },
    [70] = { "pwritev", sys_pwritev, "dxul", SC_RESTART },
    [71] = { "sendfile", sys_sendfile, "ddxu", SC_RESTART },
    [72] = { "pselect6", sys_pselect6, "dxxxxx" },
    [73] = { "ppoll", sys_ppoll, "xuxxu" },
    [74] = { "signalfd4" },
    [75] = { "vmsplice" },
    [76] = { "splice", sys_splice, "dxdxux", SC_RESTART },
    [77] = { "tee", sys_tee, "ddux", SC_RESTART },
    [78] = { "readlinkat", sys_readlinkat, "asxu" },
    [79] = { "newfstatat", sys_newfstatat, "asxx" },
    [80] = { "fstat", sys_fstat, "dx" },
    [81] = { "sync", sys_sync, "" },
    [82] = { "fsync", sys_fsync, "d" },
    [83] = { "fdatasync", sys_fdatasync, "d" },
    [84] = { "sync_file_range" },
    [85] = { "timerfd_create" },
    [86] = { "timerfd_settime" },
    [87] = { "timerfd_gettime" },
    [88] = { "utimensat", sys_utimensat, "axxx" },
    [89] = { "acct" },
    [90] = { "capget" },
    [91] = { "capset" },
    [92] = { "personality", sys_personality, "x" },
    [93] = { "exit", sys_exit, "d", SC_NORETURN },
    [94] = { "exit_group", sys_exit_group, "d", SC_NORETURN },
    [95] = { "waitid", sys_waitid, "ddxxx", SC_RESTART },
    [96] = { "set_tid_address", sys_set_tid_address, "x" },
    [97] = { "unshare" },
    [98] = { "futex", sys_futex, "xxuxxu" },
    [99] = { "set_robust_list", sys_set_robust_list, "xu" },
    [100] = { "get_robust_list" },
    [101] = { "nanosleep", sys_nanosleep, "xx" },
    [102] = { "getitimer", sys_getitimer, "dx" },
    [103] = { "setitimer", sys_setitimer, "dxx" },
    [104] = { "kexec_load" },
    [105] = { "init_module" },
    [106] = { "delete_module" },
    [107] = { "timer_create" },
    [108] = { "timer_gettime" },
    [109] = { "timer_getoverrun" },
    [110] = { "timer_settime" },
    [111] = { "timer_delete" },
    [112] = { "clock_settime" },
    [113] = { "clock_gettime", sys_clock_gettime, "dx" },
    [114] = { "clock_getres", sys_clock_getres, "dx" },
    [115] = { "clock_nanosleep", sys_clock_nanosleep, "dxxx" },
    [116] = { "syslog" },
    [117] = { "ptrace" },
    [118] = { "sched_setparam" },
    [119] = { "sched_setscheduler" },
    [120] = { "sched_getscheduler" },
    [121] = { "sched_getparam" },
    [122] = { "sched_setaffinity" },
    [123] = { "sched_getaffinity", sys_sched_getaffinity, "dux" },
    [124] = { "sched_yield", sys_sched_yield, "" },
    [125] = { "sched_get_priority_max" },
    [126] = { "sched_get_priority_min" },
    [127] = { "sched_rr_get_interval" },
    [128] = { "restart_syscall" },
    [129] = { "kill", sys_kill, "dS" },
    [130] = { "tkill", sys_tkill, "dS" },
    [131] = { "tgkill", sys_tgkill, "ddS" },
    [132] = { "sigaltstack", sys_sigaltstack, "xx" },
    [133] = { "rt_sigsuspend", sys_rt_sigsuspend, "xu" },
    [134] = { "rt_sigaction", sys_rt_sigaction, "Sxxu" },
    [135] = { "rt_sigprocmask", sys_rt_sigprocmask, "dxxu" },
    [136] = { "rt_sigpending", sys_rt_sigpending, "xu" },
    [137] = { "rt_sigtimedwait", sys_rt_sigtimedwait, "xxxu" },
    [138] = { "rt_sigqueueinfo" },
    [139] = { "rt_sigreturn" },
    [140] = { "setpriority", sys_setpriority, "ddd" },
    [141] = { "getpriority", sys_getpriority, "dd" },
    [142] = { "reboot" },
    [143] = { "setregid", sys_setregid, "uu" },
    [144] = { "setgid", sys_setgid, "u" },
    [145] = { "setreuid", sys_setreuid, "uu" },
    [146] = { "setuid", sys_setuid, "u" },
    [147] = { "setresuid", sys_setresuid, "uuu" },
    [148] = { "getresuid", sys_getresuid, "xxx" },
    [149] = { "setresgid", sys_setresgid, "uuu" },
    [150] = { "getresgid", sys_getresgid, "xxx" },
    [151] = { "setfsuid", sys_setfsuid, "u" },
    [152] = { "setfsgid", sys_setfsgid, "u" },
    [153] = { "times", sys_times, "x" },
    [154] = { "setpgid", sys_setpgid, "dd" },
    [155] = { "getpgid", sys_getpgid, "d" },
    [156] = { "getsid", sys_getsid, "d" },
    [157] = { "setsid", sys_setsid, "" },
    [158] = { "getgroups", sys_getgroups, "dx" },
    [159] = { "setgroups", sys_setgroups, "ux" },
    [160] = { "uname", sys_uname, "x" },
    [161] = { "sethostname" },
    [162] = { "setdomainname" },
    [163] = { "getrlimit", sys_getrlimit, "dx" },
    [164] = { "setrlimit", sys_setrlimit, "dx" },
    [165] = { "getrusage", sys_getrusage, "dx" },
    [166] = { "umask", sys_umask, "o" },
    [167] = { "prctl", sys_prctl, "dxxxx" },
    [168] = { "getcpu" },
    [169] = { "gettimeofday", sys_gettimeofday, "xx" },
    [170] = { "settimeofday" },
    [171] = { "adjtimex" },
    [172] = { "getpid", sys_getpid, "" },
    [173] = { "getppid", sys_getppid, "" },
    [174] = { "getuid", sys_getuid, "" },
    [175] = { "geteuid", sys_geteuid, "" },
    [176] = { "getgid", sys_getgid, "" },
    [177] = { "getegid", sys_getegid, "" },
    [178] = { "gettid", sys_gettid, "" },
    [179] = { "sysinfo", sys_sysinfo, "x" },
    [180] = { "mq_open" },
    [181] = { "mq_unlink" },
    [182] = { "mq_timedsend" },
    [183] = { "mq_timedreceive" },
    [184] = { "mq_notify" },
    [185] = { "mq_getsetattr" },
    [186] = { "msgget" },
    [187] = { "msgctl" },
    [188] = { "msgrcv" },
    [189] = { "msgsnd" },
    [190] = { "semget" },
    [191] = { "semctl" },
    [192] = { "semtimedop" },
    [193] = { "semop" },
    [194] = { "shmget" },
    [195] = { "shmctl" },
    [196] = { "shmat" },
    [197] = { "shmdt" },
    [198] = { "socket", sys_socket, "ddd" },
    [199] = { "socketpair", sys_socketpair, "dddx" },
    [200] = { "bind", sys_bind, "dxu" },
    [201] = { "listen", sys_listen, "dd" },
    [202] = { "accept", sys_accept, "dxx", SC_RESTART },
    [203] = { "connect", sys_connect, "dxu", SC_RESTART },
    [204] = { "getsockname", sys_getsockname, "dxx" },
    [205] = { "getpeername", sys_getpeername, "dxx" },
    [206] = { "sendto", sys_sendto, "dxuxxu", SC_RESTART },
    [207] = { "recvfrom", sys_recvfrom, "dxuxxx", SC_RESTART },
    [208] = { "setsockopt", sys_setsockopt, "dddxu" },
    [209] = { "getsockopt", sys_getsockopt, "dddxx" },
    [210] = { "shutdown", sys_shutdown, "dd" },
    [211] = { "sendmsg", sys_sendmsg, "dxx", SC_RESTART },
    [212] = { "recvmsg", sys_recvmsg, "dxx", SC_RESTART },
    [213] = { "readahead" },
    [214] = { "brk", sys_brk, "x", SC_HEX_RESULT },
    [215] = { "munmap", sys_munmap, "xu" },
    [216] = { "mremap", sys_mremap, "xuuxx", SC_HEX_RESULT },
    [217] = { "add_key" },
    [218] = { "request_key" },
    [219] = { "keyctl" },
    [220] = { "clone", sys_clone, "kxxxx" },
    [221] = { "execve", sys_execve, "svv", SC_TRACE_BEFORE },
    [222] = { "mmap", sys_mmap, "xupmdx", SC_HEX_RESULT },
    [223] = { "fadvise64", sys_fadvise64, "dlld" },
    [224] = { "swapon" },
    [225] = { "swapoff" },
    [226] = { "mprotect", sys_mprotect, "xup" },
    [227] = { "msync", sys_msync, "xux" },
    [228] = { "mlock" },
    [229] = { "munlock" },
    [230] = { "mlockall" },
    [231] = { "munlockall" },
    [232] = { "mincore" },
    [233] = { "madvise", sys_madvise, "xud" },
    [234] = { "remap_file_pages" },
    [235] = { "mbind" },
    [236] = { "get_mempolicy" },
    [237] = { "set_mempolicy" },
    [238] = { "migrate_pages" },
    [239] = { "move_pages" },
    [240] = { "rt_tgsigqueueinfo" },
    [241] = { "perf_event_open" },
    [242] = { "accept4", sys_accept4, "dxxx", SC_RESTART },
    [243] = { "recvmmsg" },
    [258] = { "riscv_hwprobe", sys_riscv_hwprobe, "xuuxx" },
    [259] = { "riscv_flush_icache", sys_riscv_flush_icache, "xxx" },
    [260] = { "wait4", sys_wait4, "dxxx", SC_RESTART },
    [261] = { "prlimit64", sys_prlimit64, "ddxx" },
    [262] = { "fanotify_init" },
    [263] = { "fanotify_mark" },
    [264] = { "name_to_handle_at" },
    [265] = { "open_by_handle_at" },
    [266] = { "clock_adjtime" },
    [267] = { "syncfs", sys_syncfs, "d" },
    [268] = { "setns" },
    [269] = { "sendmmsg" },
    [270] = { "process_vm_readv" },
    [271] = { "process_vm_writev" },
    [272] = { "kcmp" },
    [273] = { "finit_module" },
    [274] = { "sched_setattr" },
    [275] = { "sched_getattr" },
    [276] = { "renameat2", sys_renameat2, "asasx" },
    [277] = { "seccomp" },
    [278] = { "getrandom", sys_getrandom, "xux" },
    [279] = { "memfd_create", sys_memfd_create, "sx" },
    [280] = { "bpf" },
    [281] = { "execveat" },
    [282] = { "userfaultfd" },
    [283] = { "membarrier", sys_membarrier, "dxd" },
    [284] = { "mlock2" },
    [285] = { "copy_file_range", sys_copy_file_range, "dxdxux", SC_RESTART },
    [286] = { "preadv2" },
    [287] = { "pwritev2" },
    [288] = { "pkey_mprotect" },
    [289] = { "pkey_alloc" },
    [290] = { "pkey_free" },
    [291] = { "statx", sys_statx, "asxxx" },
    [292] = { "io_pgetevents" },
    [293] = { "rseq", sys_rseq, "xuxx" },
    [294] = { "kexec_file_load" },
    [424] = { "pidfd_send_signal" },
    [425] = { "io_uring_setup" },
    [426] = { "io_uring_enter" },
    [427] = { "io_uring_register" },
    [428] = { "open_tree" },
    [429] = { "move_mount" },
    [430] = { "fsopen" },
    [431] = { "fsconfig" },
    [432] = { "fsmount" },
    [433] = { "fspick" },
    [434] = { "pidfd_open" },
    [435] = { "clone3", sys_clone3, "xu" },
    [436] = { "close_range", sys_close_range, "uux" },
    [437] = { "openat2" },
    [438] = { "pidfd_getfd" },
    [439] = { "faccessat2", sys_faccessat2, "asox" },
    [440] = { "process_madvise" },
    [441] = { "epoll_pwait2", sys_epoll_pwait2, "dxdxxu" },
    [442] = { "mount_setattr" },
    [443] = { "quotactl_fd" },
    [444] = { "landlock_create_ruleset" },
    [445] = { "landlock_add_rule" },
    [446] = { "landlock_restrict_self" },
    [447] = { "memfd_secret" },
    [448] = { "process_mrelease" },
    [449] = { "futex_waitv" },
    [450] = { "set_mempolicy_home_node" },
};

static bool tracing;

void syscalls_init(void)
{
    const char *strace = getenv("AOTBUILDER_STRACE");
    tracing = strace && *strace;
}

static const struct syscall_desc *syscall_desc(uint64_t nr)
{
    return nr < NR_SYSCALLS && syscall_table[nr].name ? &syscall_table[nr] : NULL;
}

/* Under tracing, each unimplemented number is reported once. */
static int64_t unimplemented(const struct syscall_desc *d, uint64_t nr)
{
    static uint64_t reported[NR_SYSCALLS / 64 + 1];
    bool known = nr < NR_SYSCALLS;
    if (tracing && !(known && (reported[nr / 64] >> (nr % 64) & 1))) {
        if (known)
            reported[nr / 64] |= 1ULL << (nr % 64);
        report("aotbuilder: unimplemented system call %s (%llu) returns -ENOSYS\n", d ? d->name : "unknown",
               (unsigned long long)nr);
    }
    return -ENOSYS;
}

#define NR_RT_SIGRETURN 139

static int64_t call_handler(struct aot_cpu *cpu, uint64_t nr)
{
    const struct syscall_desc *d = syscall_desc(nr);
    const uint64_t *args = &cpu->x[10];
    struct trace_line line;
    if (tracing)
        trace_call(&line, d, nr, args);
    int64_t result = d && d->handler ? d->handler(cpu, args) : unimplemented(d, nr);
    if (tracing)
        trace_result(&line, d, result);
    return result;
}

/* Signals that arrived during the call run their handlers before the guest goes on.  A call a
 * signal interrupted (-EINTR) is restarted when it is restartable and the handler has
 * SA_RESTART: its frame resumes at the ecall with the original a0, as on Linux. */
uint64_t aot_ecall(struct aot_cpu *cpu)
{
    for (;;) {
        uint64_t nr = cpu->x[17], pc = cpu->pc, orig_a0 = cpu->x[10];
        if (nr == NR_RT_SIGRETURN) {
            if (tracing)
                report("rt_sigreturn()\n");
            return deliver_signals_nested(cpu, guest_rt_sigreturn(cpu), 0, 0);
        }
        int64_t result = call_handler(cpu, nr);
        cpu->x[10] = (uint64_t)result;
        if (__builtin_expect(!__atomic_load_n(&cpu->interrupt, __ATOMIC_RELAXED), 1)) {
            signal_end_temporary_mask(cpu);
            return pc + 4;
        }
        const struct syscall_desc *d = syscall_desc(nr);
        bool restartable = result == -EINTR && d && (d->flags & SC_RESTART);
        uint64_t next = deliver_signals_nested(cpu, pc + 4, restartable ? pc : 0, orig_a0);
        signal_end_temporary_mask(cpu);
        if (next != pc || cpu->x[17] != nr)
            return next;
        cpu->pc = pc;  /* restarted */
    }
}
