/* Clocks and sleeping.  Clock ids, struct timespec, timeval, timezone and tms are the same on
 * both sides. */
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/times.h>
#include <time.h>
#include <unistd.h>

#include "syscall.h"

/* libc's clock_gettime and gettimeofday use the host vDSO: no host system call. */
SYSCALL(clock_gettime)
{
    struct timespec ts;
    return copy_out(host_result(clock_gettime((clockid_t)a[0], &ts)), a[1], &ts, sizeof ts);
}

SYSCALL(clock_getres)
{
    struct timespec ts;
    return copy_out_optional(host_result(clock_getres((clockid_t)a[0], &ts)), a[1], &ts, sizeof ts);
}

SYSCALL(gettimeofday)
{
    struct timeval tv;
    struct timezone tz;
    int64_t r = host_result(gettimeofday(&tv, &tz));
    r = copy_out_optional(r, a[0], &tv, sizeof tv);
    return copy_out_optional(r, a[1], &tz, sizeof tz);
}

/* An interrupted relative sleep reports the time left. */
static int64_t sleep_result(int64_t r, uint64_t remain_addr, const struct timespec *remain)
{
    if (r == -EINTR && remain_addr && guest_write(remain_addr, remain, sizeof *remain) != 0)
        return -EFAULT;
    return r;
}

SYSCALL(nanosleep)
{
    struct timespec req, remain;
    if (guest_read(a[0], &req, sizeof req) != 0)
        return -EFAULT;
    return sleep_result(host_result(syscall(SYS_nanosleep, &req, &remain)), a[1], &remain);
}

SYSCALL(clock_nanosleep)
{
    struct timespec req, remain;
    if (guest_read(a[2], &req, sizeof req) != 0)
        return -EFAULT;
    int64_t r = host_result(syscall(SYS_clock_nanosleep, (clockid_t)a[0], (int)a[1], &req, &remain));
    return (a[1] & TIMER_ABSTIME) ? r : sleep_result(r, a[3], &remain);
}

SYSCALL(times)
{
    struct tms t;
    return copy_out_optional(host_result(syscall(SYS_times, &t)), a[0], &t, sizeof t);
}
