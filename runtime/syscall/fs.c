/* Paths and file metadata.  Paths are copied in from guest memory; struct stat is converted to
 * the riscv64 layout; everything else passes through unchanged (see guest_linux.h). */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "syscall.h"

SYSCALL(openat)
{
    PATH_ARG(path, a[1]);
    int fd = open_guest_proc_file(path, (int)a[2]);
    if (fd != -1)
        return fd;
    return host_result(syscall(SYS_openat, (int)a[0], path, (int)a[2], (mode_t)a[3]));
}

static int64_t put_stat(int64_t result, uint64_t addr, const struct stat *st)
{
    struct guest_stat g = {
        .st_dev = st->st_dev,
        .st_ino = st->st_ino,
        .st_mode = st->st_mode,
        .st_nlink = (uint32_t)st->st_nlink,
        .st_uid = st->st_uid,
        .st_gid = st->st_gid,
        .st_rdev = st->st_rdev,
        .st_size = st->st_size,
        .st_blksize = (int32_t)st->st_blksize,
        .st_blocks = st->st_blocks,
        .st_atime_sec = st->st_atim.tv_sec,
        .st_atime_nsec = (uint64_t)st->st_atim.tv_nsec,
        .st_mtime_sec = st->st_mtim.tv_sec,
        .st_mtime_nsec = (uint64_t)st->st_mtim.tv_nsec,
        .st_ctime_sec = st->st_ctim.tv_sec,
        .st_ctime_nsec = (uint64_t)st->st_ctim.tv_nsec,
    };
    return copy_out(result, addr, &g, sizeof g);
}

SYSCALL(fstat)
{
    struct stat st;
    return put_stat(host_result(syscall(SYS_fstat, (int)a[0], &st)), a[1], &st);
}

SYSCALL(newfstatat)
{
    struct stat st;
    PATH_ARG(path, a[1]);
    return put_stat(host_result(syscall(SYS_newfstatat, (int)a[0], path, &st, (int)a[3])), a[2], &st);
}

/* struct statx has one layout everywhere. */
SYSCALL(statx)
{
    struct statx stx;
    PATH_ARG(path, a[1]);
    return copy_out(host_result(syscall(SYS_statx, (int)a[0], path, (int)a[2], (unsigned)a[3], &stx)),
                    a[4], &stx, sizeof stx);
}

SYSCALL(statfs)
{
    struct statfs sfs;
    PATH_ARG(path, a[0]);
    return copy_out(host_result(syscall(SYS_statfs, path, &sfs)), a[1], &sfs, sizeof sfs);
}

SYSCALL(fstatfs)
{
    struct statfs sfs;
    return copy_out(host_result(syscall(SYS_fstatfs, (int)a[0], &sfs)), a[1], &sfs, sizeof sfs);
}

_Static_assert(sizeof(struct statfs) == 120, "struct statfs: same 64-bit layout on riscv64");

/* /proc/self/exe is a link to the guest's file. */
SYSCALL(readlinkat)
{
    char target[PATH_MAX], path[PATH_MAX];
    int size = (int)a[3];
    int64_t n = guest_read_string(a[1], path, sizeof path);
    if (n < 0)
        return n;
    if (size <= 0)
        return -EINVAL;
    const char *exe = guest_path(path);
    if (exe != path) {
        n = (int64_t)strlen(exe) < size ? (int64_t)strlen(exe) : size;
        return copy_out(n, a[2], exe, (size_t)n);
    }
    n = host_result(syscall(SYS_readlinkat, (int)a[0], path, target, size < PATH_MAX ? size : PATH_MAX));
    return copy_out(n, a[2], target, n > 0 ? (size_t)n : 0);
}

SYSCALL(faccessat)
{
    PATH_ARG(path, a[1]);
    return host_result(syscall(SYS_faccessat, (int)a[0], path, (int)a[2]));
}

SYSCALL(faccessat2)
{
    PATH_ARG(path, a[1]);
    return host_result(syscall(SYS_faccessat2, (int)a[0], path, (int)a[2], (int)a[3]));
}

/* The system call returns the length including the NUL, unlike libc's getcwd. */
SYSCALL(getcwd)
{
    char cwd[PATH_MAX];
    uint64_t size = a[1] < PATH_MAX ? a[1] : PATH_MAX;
    int64_t n = host_result(syscall(SYS_getcwd, cwd, size));
    return copy_out(n, a[0], cwd, n > 0 ? (size_t)n : 0);
}

SYSCALL(chdir)
{
    PATH_ARG(path, a[0]);
    return host_result(chdir(path));
}

SYSCALL(fchdir) { return host_result(fchdir((int)a[0])); }

/* The fallback JIT's worker runs the aotbuilder installed on the host, which the new root most
 * likely hides: it starts first (a worker already running keeps working inside the chroot). */
SYSCALL(chroot)
{
    PATH_ARG(path, a[0]);
    jit_start_early();
    return host_result(chroot(path));
}

SYSCALL(unlinkat)
{
    PATH_ARG(path, a[1]);
    return host_result(unlinkat((int)a[0], path, (int)a[2]));
}

SYSCALL(mkdirat)
{
    PATH_ARG(path, a[1]);
    return host_result(mkdirat((int)a[0], path, (mode_t)a[2]));
}

SYSCALL(renameat2)
{
    PATH_ARG(from, a[1]);
    PATH_ARG(to, a[3]);
    return host_result(syscall(SYS_renameat2, (int)a[0], from, (int)a[2], to, (unsigned)a[4]));
}

SYSCALL(symlinkat)
{
    PATH_ARG(target, a[0]);
    PATH_ARG(link, a[2]);
    return host_result(symlinkat(target, (int)a[1], link));
}

SYSCALL(linkat)
{
    PATH_ARG(from, a[1]);
    PATH_ARG(to, a[3]);
    return host_result(linkat((int)a[0], from, (int)a[2], to, (int)a[4]));
}

SYSCALL(fchmod) { return host_result(fchmod((int)a[0], (mode_t)a[1])); }

SYSCALL(fchmodat)
{
    PATH_ARG(path, a[1]);
    return host_result(syscall(SYS_fchmodat, (int)a[0], path, (mode_t)a[2]));
}

SYSCALL(fchown) { return host_result(fchown((int)a[0], (uid_t)a[1], (gid_t)a[2])); }

SYSCALL(fchownat)
{
    PATH_ARG(path, a[1]);
    return host_result(fchownat((int)a[0], path, (uid_t)a[2], (gid_t)a[3], (int)a[4]));
}

SYSCALL(umask) { return umask((mode_t)a[0]); }

SYSCALL(truncate)
{
    PATH_ARG(path, a[0]);
    return host_result(truncate(path, (off_t)a[1]));
}

SYSCALL(ftruncate) { return host_result(ftruncate((int)a[0], (off_t)a[1])); }
SYSCALL(fsync) { return host_result(fsync((int)a[0])); }
SYSCALL(fdatasync) { return host_result(fdatasync((int)a[0])); }

/* futimens passes a NULL path; a NULL times means "now". */
SYSCALL(utimensat)
{
    struct timespec times[2];
    char path[PATH_MAX];
    int64_t err = a[1] ? read_path(a[1], path) : 0;
    if (err)
        return err;
    if (a[2] && guest_read(a[2], times, sizeof times) != 0)
        return -EFAULT;
    return host_result(syscall(SYS_utimensat, (int)a[0], a[1] ? path : NULL, a[2] ? times : NULL, (int)a[3]));
}

/* struct linux_dirent64 has one layout everywhere; a smaller bounce buffer only means fewer
 * entries per call. */
#define DIRENT_BUFFER (64 << 10)

SYSCALL(getdents64)
{
    size_t size = a[2] < DIRENT_BUFFER ? a[2] : DIRENT_BUFFER;
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return -ENOMEM;
    int64_t n = host_result(syscall(SYS_getdents64, (int)a[0], buf, size));
    n = copy_out(n, a[1], buf, n > 0 ? (size_t)n : 0);
    free(buf);
    return n;
}

SYSCALL(mknodat)
{
    PATH_ARG(path, a[1]);
    return host_result(mknodat((int)a[0], path, (mode_t)a[2], (dev_t)a[3]));
}
