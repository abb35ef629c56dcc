/* File descriptor I/O.  Data moves directly between the host kernel and guest memory: a guest
 * buffer becomes the host iovecs of its pages (one iovec when the buffer lies in one mapping). */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "syscall.h"

#define MAX_IOV 1024  /* UIO_MAXIOV on both sides */

enum direction { TO_GUEST, FROM_GUEST };

/* One buffer goes through plain read/write: for fds like eventfd, inotify or packet sockets,
 * readv would treat each piece as its own read. */
static int64_t host_io(enum direction dir, int fd, struct iovec *iov, int n, bool positioned, off_t offset)
{
    if (n <= 1) {
        void *base = n ? iov[0].iov_base : NULL;
        size_t len = n ? iov[0].iov_len : 0;
        if (dir == TO_GUEST)
            return host_result(positioned ? pread(fd, base, len, offset) : read(fd, base, len));
        return host_result(positioned ? pwrite(fd, base, len, offset) : write(fd, base, len));
    }
    if (dir == TO_GUEST)
        return host_result(positioned ? preadv(fd, iov, n, offset) : readv(fd, iov, n));
    return host_result(positioned ? pwritev(fd, iov, n, offset) : writev(fd, iov, n));
}

static uint64_t need_for(enum direction dir)
{
    return dir == TO_GUEST ? PTE_W : PTE_R;
}

/* A bad page in the middle of a buffer shortens the transfer, as a fault does on Linux. */
static int64_t buffer_io(enum direction dir, int fd, uint64_t buf, uint64_t len, bool positioned, off_t offset)
{
    struct iovec iov[MAX_IOV];
    int n = guest_iovecs(buf, len, need_for(dir), iov, MAX_IOV);
    return n < 0 ? n : host_io(dir, fd, iov, n, positioned, offset);
}

struct guest_iovec { uint64_t base, len; };

static int64_t vector_io(enum direction dir, int fd, uint64_t guest_iov, uint64_t count, bool positioned, off_t offset)
{
    if (count > MAX_IOV)
        return -EINVAL;
    struct guest_iovec giov[MAX_IOV];
    if (guest_read(guest_iov, giov, count * sizeof giov[0]) != 0)
        return -EFAULT;
    struct iovec iov[MAX_IOV];
    int n = 0;
    for (uint64_t i = 0; i < count && n < MAX_IOV; i++) {
        if (!giov[i].len)
            continue;
        int k = guest_iovecs(giov[i].base, giov[i].len, need_for(dir), iov + n, MAX_IOV - n);
        if (k < 0)
            return n ? host_io(dir, fd, iov, n, positioned, offset) : -EFAULT;
        uint64_t covered = 0;
        for (int j = n; j < n + k; j++)
            covered += iov[j].iov_len;
        n += k;
        if (covered < giov[i].len)
            break;
    }
    return host_io(dir, fd, iov, n, positioned, offset);
}

SYSCALL(read) { return buffer_io(TO_GUEST, (int)a[0], a[1], a[2], false, 0); }
SYSCALL(write) { return buffer_io(FROM_GUEST, (int)a[0], a[1], a[2], false, 0); }
SYSCALL(pread64) { return buffer_io(TO_GUEST, (int)a[0], a[1], a[2], true, (off_t)a[3]); }
SYSCALL(pwrite64) { return buffer_io(FROM_GUEST, (int)a[0], a[1], a[2], true, (off_t)a[3]); }
SYSCALL(readv) { return vector_io(TO_GUEST, (int)a[0], a[1], a[2], false, 0); }
SYSCALL(writev) { return vector_io(FROM_GUEST, (int)a[0], a[1], a[2], false, 0); }
SYSCALL(preadv) { return vector_io(TO_GUEST, (int)a[0], a[1], a[2], true, (off_t)a[3]); }
SYSCALL(pwritev) { return vector_io(FROM_GUEST, (int)a[0], a[1], a[2], true, (off_t)a[3]); }

/* The runtime's own descriptor (the JIT worker's socket) is not the guest's: closing it is
 * EBADF, and a dup3 onto it moves it out of the way first. */
SYSCALL(close) { return jit_owns_fd((int)a[0]) ? -EBADF : host_result(close((int)a[0])); }
SYSCALL(lseek) { return host_result(lseek((int)a[0], (off_t)a[1], (int)a[2])); }
SYSCALL(dup) { return host_result(dup((int)a[0])); }
SYSCALL(dup3)
{
    if (jit_owns_fd((int)a[1]) && jit_move_fd() != 0)
        return -EMFILE;
    return host_result(dup3((int)a[0], (int)a[1], (int)a[2]));
}

SYSCALL(pipe2)
{
    int fds[2];
    int64_t r = host_result(pipe2(fds, (int)a[1]));
    if (r == 0 && guest_write(a[0], fds, sizeof fds) != 0) {
        close(fds[0]);
        close(fds[1]);
        return -EFAULT;
    }
    return r;
}

/* ---- ioctl: the requests we know, with how their argument travels ---- */

enum ioctl_arg { ARG_NONE, ARG_VALUE, ARG_IN, ARG_OUT };

struct ioctl_desc {
    uint32_t request;
    enum ioctl_arg arg;
    uint32_t size;  /* bytes behind the pointer for ARG_IN/ARG_OUT */
};

#define KERNEL_TERMIOS_SIZE 36  /* struct termios of the ioctl ABI, NCCS = 19 on both */

static const struct ioctl_desc ioctls[] = {
    { TCGETS, ARG_OUT, KERNEL_TERMIOS_SIZE },
    { TCSETS, ARG_IN, KERNEL_TERMIOS_SIZE },
    { TCSETSW, ARG_IN, KERNEL_TERMIOS_SIZE },
    { TCSETSF, ARG_IN, KERNEL_TERMIOS_SIZE },
    { TCSBRK, ARG_VALUE, 0 },
    { TCXONC, ARG_VALUE, 0 },
    { TCFLSH, ARG_VALUE, 0 },
    { TIOCSCTTY, ARG_VALUE, 0 },
    { TIOCNOTTY, ARG_NONE, 0 },
    { TIOCGPGRP, ARG_OUT, sizeof(int) },
    { TIOCSPGRP, ARG_IN, sizeof(int) },
    { TIOCGSID, ARG_OUT, sizeof(int) },
    { TIOCOUTQ, ARG_OUT, sizeof(int) },
    { TIOCGWINSZ, ARG_OUT, sizeof(struct winsize) },
    { TIOCSWINSZ, ARG_IN, sizeof(struct winsize) },
    { TIOCGPTN, ARG_OUT, sizeof(unsigned) },
    { TIOCSPTLCK, ARG_IN, sizeof(int) },
    { FIONREAD, ARG_OUT, sizeof(int) },
    { FIONBIO, ARG_IN, sizeof(int) },
    { FIOASYNC, ARG_IN, sizeof(int) },
    { FIOCLEX, ARG_NONE, 0 },
    { FIONCLEX, ARG_NONE, 0 },
};

_Static_assert(sizeof(struct winsize) == 8, "struct winsize");

static const struct ioctl_desc *find_ioctl(uint32_t request)
{
    for (size_t i = 0; i < sizeof ioctls / sizeof ioctls[0]; i++)
        if (ioctls[i].request == request)
            return &ioctls[i];
    return NULL;
}

SYSCALL(ioctl)
{
    int fd = (int)a[0];
    uint32_t request = (uint32_t)a[1];
    const struct ioctl_desc *d = find_ioctl(request);
    unsigned char buf[64];
    if (!d)
        return -ENOTTY;
    switch (d->arg) {
    case ARG_NONE:
        return host_result(ioctl(fd, request));
    case ARG_VALUE:
        return host_result(ioctl(fd, request, a[2]));
    case ARG_IN:
        if (guest_read(a[2], buf, d->size) != 0)
            return -EFAULT;
        return host_result(ioctl(fd, request, buf));
    case ARG_OUT:
        return copy_out(host_result(ioctl(fd, request, buf)), a[2], buf, d->size);
    }
    return -ENOTTY;
}

/* ---- fcntl ---- */

static int64_t fcntl_with_struct(int fd, int cmd, uint64_t addr, size_t size)
{
    unsigned char buf[64];
    if (guest_read(addr, buf, size) != 0)
        return -EFAULT;
    int64_t r = host_result(syscall(SYS_fcntl, fd, cmd, buf));
    return copy_out(r, addr, buf, size);
}

SYSCALL(fcntl)
{
    int fd = (int)a[0], cmd = (int)a[1];
    switch (cmd) {
    case F_GETLK: case F_SETLK: case F_SETLKW:
    case F_OFD_GETLK: case F_OFD_SETLK: case F_OFD_SETLKW:
        return fcntl_with_struct(fd, cmd, a[2], sizeof(struct flock));
    case F_GETOWN_EX: case F_SETOWN_EX:
        return fcntl_with_struct(fd, cmd, a[2], sizeof(struct f_owner_ex));
    case F_DUPFD: case F_DUPFD_CLOEXEC: case F_GETFD: case F_SETFD: case F_GETFL: case F_SETFL:
    case F_GETOWN: case F_SETOWN: case F_GETSIG: case F_SETSIG: case F_GETLEASE: case F_SETLEASE:
    case F_NOTIFY: case F_GETPIPE_SZ: case F_SETPIPE_SZ: case F_ADD_SEALS: case F_GET_SEALS:
        return host_result(syscall(SYS_fcntl, fd, cmd, a[2]));
    default:
        return -EINVAL;
    }
}

_Static_assert(sizeof(struct flock) == 32, "struct flock: same 64-bit layout on riscv64");

/* ---- ppoll ---- */

/* pselect6's sixth argument: { const sigset_t *ss; size_t ss_len; } */
struct guest_sigset_argpack { uint64_t ss, ss_len; };

/* Blocks with the guest's temporary mask (see signal_begin_temporary_mask); returns the host
 * set to block with, or -errno. */
static int64_t temporary_mask(struct aot_cpu *cpu, uint64_t addr, uint64_t size, sigset_t *host)
{
    uint64_t mask;
    if (size != GUEST_SIGSET_SIZE)
        return -EINVAL;
    if (guest_read(addr, &mask, sizeof mask) != 0)
        return -EFAULT;
    signal_begin_temporary_mask(cpu, mask);
    host_sigset_of(thread_of(cpu)->sigmask, host);
    return 0;
}


#define MAX_POLL_FDS 4096

SYSCALL(ppoll)
{
    uint64_t nfds = a[1];
    if (nfds > MAX_POLL_FDS)
        return -EINVAL;
    struct pollfd fds[MAX_POLL_FDS];
    struct timespec timeout;
    sigset_t mask;
    if (guest_read(a[0], fds, nfds * sizeof fds[0]) != 0)
        return -EFAULT;
    if (a[2] && guest_read(a[2], &timeout, sizeof timeout) != 0)
        return -EFAULT;
    if (a[3]) {
        int64_t err = temporary_mask(cpu, a[3], a[4], &mask);
        if (err)
            return err;
    }
    /* The raw system call, because it writes the time left back like the guest expects. */
    int64_t r = host_result(syscall(SYS_ppoll, fds, nfds, a[2] ? &timeout : NULL, a[3] ? &mask : NULL,
                                    GUEST_SIGSET_SIZE));
    if (a[2])
        guest_write(a[2], &timeout, sizeof timeout);
    return copy_out(r, a[0], fds, nfds * sizeof fds[0]);
}

/* ---- pselect6, epoll ---- */

SYSCALL(pselect6)
{
    fd_set sets[3];
    uint64_t addrs[3] = { a[1], a[2], a[3] };
    struct timespec timeout;
    struct guest_sigset_argpack pack = { 0, 0 };
    sigset_t mask;
    int nfds = (int)a[0];
    if (nfds < 0 || nfds > FD_SETSIZE)
        return -EINVAL;
    size_t bytes = ((size_t)nfds + 63) / 64 * 8;
    for (int i = 0; i < 3; i++) {
        FD_ZERO(&sets[i]);
        if (addrs[i] && guest_read(addrs[i], &sets[i], bytes) != 0)
            return -EFAULT;
    }
    if ((a[4] && guest_read(a[4], &timeout, sizeof timeout) != 0) || (a[5] && guest_read(a[5], &pack, sizeof pack)))
        return -EFAULT;
    if (pack.ss) {
        int64_t err = temporary_mask(cpu, pack.ss, pack.ss_len, &mask);
        if (err)
            return err;
    }
    struct { const sigset_t *ss; size_t len; } host_pack = { pack.ss ? &mask : NULL, GUEST_SIGSET_SIZE };
    int64_t r = host_result(syscall(SYS_pselect6, nfds, addrs[0] ? &sets[0] : NULL, addrs[1] ? &sets[1] : NULL,
                                    addrs[2] ? &sets[2] : NULL, a[4] ? &timeout : NULL, &host_pack));
    if (a[4])
        guest_write(a[4], &timeout, sizeof timeout);
    for (int i = 0; i < 3 && r >= 0; i++)
        if (addrs[i] && guest_write(addrs[i], &sets[i], bytes) != 0)
            return -EFAULT;
    return r;
}

/* riscv64's struct epoll_event is { u32 events; u64 data } with natural alignment (16 bytes);
 * x86-64's is packed (12 bytes). */
struct guest_epoll_event { uint32_t events; uint32_t pad; uint64_t data; };
#define MAX_EPOLL_EVENTS 1024

SYSCALL(epoll_create1) { return host_result(epoll_create1((int)a[0])); }

SYSCALL(epoll_ctl)
{
    struct guest_epoll_event g;
    struct epoll_event e;
    if (a[3] && guest_read(a[3], &g, sizeof g) != 0)
        return -EFAULT;
    e.events = g.events;
    e.data.u64 = g.data;
    return host_result(epoll_ctl((int)a[0], (int)a[1], (int)a[2], a[3] ? &e : NULL));
}

static int64_t epoll_wait_common(struct aot_cpu *cpu, const uint64_t *a, int timeout_ms, const struct timespec *ts)
{
    int max = (int)a[2];
    struct epoll_event events[MAX_EPOLL_EVENTS];
    sigset_t mask;
    if (max <= 0)
        return -EINVAL;
    if (max > MAX_EPOLL_EVENTS)
        max = MAX_EPOLL_EVENTS;
    if (a[4]) {
        int64_t err = temporary_mask(cpu, a[4], a[5], &mask);
        if (err)
            return err;
    }
    int64_t n = ts ? host_result(syscall(SYS_epoll_pwait2, (int)a[0], events, max, ts, a[4] ? &mask : NULL, 8))
                   : host_result(syscall(SYS_epoll_pwait, (int)a[0], events, max, timeout_ms, a[4] ? &mask : NULL, 8));
    for (int64_t i = 0; i < n; i++) {
        struct guest_epoll_event g = { events[i].events, 0, events[i].data.u64 };
        if (guest_write(a[1] + (uint64_t)i * sizeof g, &g, sizeof g) != 0)
            return -EFAULT;
    }
    return n;
}

SYSCALL(epoll_pwait) { return epoll_wait_common(cpu, a, (int)a[3], NULL); }

SYSCALL(epoll_pwait2)
{
    struct timespec ts;
    if (a[3] && guest_read(a[3], &ts, sizeof ts) != 0)
        return -EFAULT;
    return a[3] ? epoll_wait_common(cpu, a, 0, &ts) : epoll_wait_common(cpu, a, -1, NULL);
}

/* ---- descriptors to descriptors ---- */

SYSCALL(eventfd2) { return host_result(eventfd((unsigned)a[0], (int)a[1])); }

/* An optional in/out offset of the guest. */
static int64_t read_offset(uint64_t addr, loff_t *off)
{
    return addr && guest_read(addr, off, sizeof *off) != 0 ? -EFAULT : 0;
}

static int64_t write_offset(int64_t r, uint64_t addr, const loff_t *off)
{
    return r >= 0 && addr && guest_write(addr, off, sizeof *off) != 0 ? -EFAULT : r;
}

SYSCALL(sendfile)
{
    loff_t off;
    if (read_offset(a[2], &off))
        return -EFAULT;
    int64_t r = host_result(sendfile((int)a[0], (int)a[1], a[2] ? &off : NULL, a[3]));
    return write_offset(r, a[2], &off);
}

SYSCALL(splice)
{
    loff_t in, out;
    if (read_offset(a[1], &in) || read_offset(a[3], &out))
        return -EFAULT;
    int64_t r = host_result(splice((int)a[0], a[1] ? &in : NULL, (int)a[2], a[3] ? &out : NULL, a[4], (unsigned)a[5]));
    return write_offset(write_offset(r, a[1], &in), a[3], &out);
}

SYSCALL(copy_file_range)
{
    loff_t in, out;
    if (read_offset(a[1], &in) || read_offset(a[3], &out))
        return -EFAULT;
    int64_t r = host_result(copy_file_range((int)a[0], a[1] ? &in : NULL, (int)a[2], a[3] ? &out : NULL, a[4],
                                            (unsigned)a[5]));
    return write_offset(write_offset(r, a[1], &in), a[3], &out);
}

SYSCALL(tee) { return host_result(tee((int)a[0], (int)a[1], a[2], (unsigned)a[3])); }
SYSCALL(flock) { return host_result(flock((int)a[0], (int)a[1])); }
SYSCALL(fallocate) { return host_result(fallocate((int)a[0], (int)a[1], (off_t)a[2], (off_t)a[3])); }
SYSCALL(fadvise64) { return -posix_fadvise((int)a[0], (off_t)a[1], (off_t)a[2], (int)a[3]); }
SYSCALL(sync) { sync(); return 0; }
SYSCALL(syncfs) { return host_result(syncfs((int)a[0])); }
SYSCALL(close_range)
{
    unsigned first = (unsigned)a[0], last = (unsigned)a[1], flags = (unsigned)a[2];
    int own = jit_owned_fd();
    if (own < 0 || (unsigned)own < first || (unsigned)own > last || first > last)
        return host_result(syscall(SYS_close_range, first, last, flags));
    int64_t r = (unsigned)own > first ? host_result(syscall(SYS_close_range, first, (unsigned)own - 1, flags)) : 0;
    if (r == 0 && (unsigned)own < last)
        r = host_result(syscall(SYS_close_range, (unsigned)own + 1, last, flags));
    return r;
}

SYSCALL(memfd_create)
{
    char name[256];
    int64_t n = guest_read_string(a[0], name, sizeof name);
    if (n < 0)
        return n == -ENAMETOOLONG ? -EINVAL : n;
    return host_result(memfd_create(name, (unsigned)a[1]));
}
