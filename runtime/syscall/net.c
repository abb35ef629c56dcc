/* Sockets.  struct sockaddr and its families, socket options with int or struct linger/timeval
 * values, and struct msghdr/cmsghdr have the same 64-bit layouts on both sides; msghdr carries
 * guest pointers, so sendmsg/recvmsg rebuild it with host buffers. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "syscall.h"

#define MAX_SOCKADDR 128  /* sizeof(struct sockaddr_storage) */
#define MAX_SOCKOPT 256
#define MAX_CONTROL 4096

SYSCALL(socket) { return host_result(socket((int)a[0], (int)a[1], (int)a[2])); }

SYSCALL(socketpair)
{
    int fds[2];
    int64_t r = host_result(socketpair((int)a[0], (int)a[1], (int)a[2], fds));
    if (r == 0 && guest_write(a[3], fds, sizeof fds) != 0) {
        close(fds[0]);
        close(fds[1]);
        return -EFAULT;
    }
    return r;
}

static int64_t read_sockaddr(uint64_t addr, uint64_t len, unsigned char *buf)
{
    if (len > MAX_SOCKADDR)
        return -EINVAL;
    return guest_read(addr, buf, len) ? -EFAULT : 0;
}

SYSCALL(bind)
{
    unsigned char sa[MAX_SOCKADDR];
    int64_t err = read_sockaddr(a[1], a[2], sa);
    return err ? err : host_result(bind((int)a[0], (struct sockaddr *)sa, (socklen_t)a[2]));
}

SYSCALL(connect)
{
    unsigned char sa[MAX_SOCKADDR];
    int64_t err = read_sockaddr(a[1], a[2], sa);
    return err ? err : host_result(connect((int)a[0], (struct sockaddr *)sa, (socklen_t)a[2]));
}

SYSCALL(listen) { return host_result(listen((int)a[0], (int)a[1])); }
SYSCALL(shutdown) { return host_result(shutdown((int)a[0], (int)a[1])); }

/* An address result: *len in guest memory is the room on entry and the full length on return. */
static int64_t put_sockaddr(int64_t r, uint64_t addr, uint64_t len_addr, const unsigned char *sa, socklen_t len)
{
    uint32_t room;
    if (r < 0 || !addr)
        return r;
    if (guest_read(len_addr, &room, sizeof room) != 0)
        return -EFAULT;
    if (guest_write(addr, sa, len < room ? len : room) != 0 || guest_write(len_addr, &len, sizeof len) != 0)
        return -EFAULT;
    return r;
}

static int64_t address_call(int fd, uint64_t addr, uint64_t len_addr, int which, int flags)
{
    unsigned char sa[MAX_SOCKADDR];
    socklen_t len = sizeof sa;
    int64_t r;
    struct sockaddr *p = addr ? (struct sockaddr *)sa : NULL;
    socklen_t *lp = addr ? &len : NULL;
    switch (which) {
    case 0: r = host_result(accept4(fd, p, lp, flags)); break;
    case 1: r = host_result(getsockname(fd, (struct sockaddr *)sa, &len)); break;
    default: r = host_result(getpeername(fd, (struct sockaddr *)sa, &len)); break;
    }
    return put_sockaddr(r, addr, len_addr, sa, len);
}

SYSCALL(accept) { return address_call((int)a[0], a[1], a[2], 0, 0); }
SYSCALL(accept4) { return address_call((int)a[0], a[1], a[2], 0, (int)a[3]); }
SYSCALL(getsockname) { return address_call((int)a[0], a[1], a[2], 1, 0); }
SYSCALL(getpeername) { return address_call((int)a[0], a[1], a[2], 2, 0); }

SYSCALL(setsockopt)
{
    unsigned char value[MAX_SOCKOPT];
    if (a[4] > MAX_SOCKOPT)
        return -EINVAL;
    if (guest_read(a[3], value, a[4]) != 0)
        return -EFAULT;
    return host_result(setsockopt((int)a[0], (int)a[1], (int)a[2], value, (socklen_t)a[4]));
}

SYSCALL(getsockopt)
{
    unsigned char value[MAX_SOCKOPT];
    uint32_t len;
    if (guest_read(a[4], &len, sizeof len) != 0)
        return -EFAULT;
    socklen_t host_len = len < MAX_SOCKOPT ? len : MAX_SOCKOPT;
    int64_t r = host_result(getsockopt((int)a[0], (int)a[1], (int)a[2], value, &host_len));
    if (r < 0)
        return r;
    if (guest_write(a[3], value, host_len) != 0 || guest_write(a[4], &host_len, sizeof host_len) != 0)
        return -EFAULT;
    return r;
}

SYSCALL(sendto)
{
    unsigned char sa[MAX_SOCKADDR];
    struct iovec iov[64];
    if (a[4] && read_sockaddr(a[4], a[5], sa))
        return -EFAULT;
    int n = guest_iovecs(a[1], a[2], PTE_R, iov, 64);
    if (n < 0)
        return n;
    struct msghdr msg = { a[4] ? sa : NULL, a[4] ? (socklen_t)a[5] : 0, iov, (size_t)n, NULL, 0, 0 };
    return host_result(sendmsg((int)a[0], &msg, (int)a[3]));
}

SYSCALL(recvfrom)
{
    unsigned char sa[MAX_SOCKADDR];
    struct iovec iov[64];
    int n = guest_iovecs(a[1], a[2], PTE_W, iov, 64);
    if (n < 0)
        return n;
    struct msghdr msg = { sa, sizeof sa, iov, (size_t)n, NULL, 0, 0 };
    int64_t r = host_result(recvmsg((int)a[0], &msg, (int)a[3]));
    return put_sockaddr(r, a[4], a[5], sa, msg.msg_namelen);
}

/* struct msghdr of the guest (same layout as the host's, with guest pointers). */
struct guest_msghdr { uint64_t name; uint32_t namelen, pad; uint64_t iov, iovlen, control, controllen; int32_t flags, pad2; };
struct guest_iovec_desc { uint64_t base, len; };

#define MAX_MSG_IOV 64

static int64_t message_call(const uint64_t *a, bool receive)
{
    struct guest_msghdr g;
    struct guest_iovec_desc giov[MAX_MSG_IOV];
    struct iovec iov[MAX_MSG_IOV];
    unsigned char sa[MAX_SOCKADDR], control[MAX_CONTROL];
    if (guest_read(a[1], &g, sizeof g) != 0)
        return -EFAULT;
    if (g.iovlen > MAX_MSG_IOV || g.namelen > MAX_SOCKADDR || g.controllen > MAX_CONTROL)
        return -EINVAL;
    if (guest_read(g.iov, giov, g.iovlen * sizeof giov[0]) != 0)
        return -EFAULT;
    int n = 0;
    for (uint64_t i = 0; i < g.iovlen && n < MAX_MSG_IOV; i++) {
        if (!giov[i].len)
            continue;
        int k = guest_iovecs(giov[i].base, giov[i].len, receive ? PTE_W : PTE_R, iov + n, MAX_MSG_IOV - n);
        if (k < 0)
            return -EFAULT;
        n += k;
    }
    if (!receive && ((g.name && guest_read(g.name, sa, g.namelen)) || (g.control && guest_read(g.control, control,
                                                                                               g.controllen))))
        return -EFAULT;
    struct msghdr msg = { g.name ? sa : NULL, g.name ? g.namelen : 0, iov, (size_t)n, g.control ? control : NULL,
                          g.control ? g.controllen : 0, 0 };
    if (!receive)
        return host_result(sendmsg((int)a[0], &msg, (int)a[2]));
    int64_t r = host_result(recvmsg((int)a[0], &msg, (int)a[2]));
    if (r < 0)
        return r;
    g.namelen = msg.msg_namelen;
    g.controllen = msg.msg_controllen;
    g.flags = msg.msg_flags;
    if ((g.name && guest_write(g.name, sa, msg.msg_namelen)) ||
        (g.control && guest_write(g.control, control, msg.msg_controllen)) || guest_write(a[1], &g, sizeof g))
        return -EFAULT;
    return r;
}

SYSCALL(sendmsg) { return message_call(a, false); }
SYSCALL(recvmsg) { return message_call(a, true); }
