/* Signal handlers taken at the poll of a loop without calls (a timer signal, so it arrives while
 * the loop spins).  Translated code keeps its registers across a poll unless the handler changed
 * one (docs/runtime.md, safe points):
 *   - a handler that changes nothing: the loop goes on with the values it holds;
 *   - a handler that changes an integer register in its frame, then one that changes an FP
 *     register: the loop must see the new value;
 *   - a handler that reads a register the loop counts in, clean when the loop starts (written
 *     back at the call before it): its frame must hold the count, not the value before the loop
 *     (the poll of a loop that loads, behind the loads' direct moves, once wrote back only what
 *     changed before the loop).
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <ucontext.h>

static volatile sig_atomic_t alarmed;

static void note_alarm(int sig, siginfo_t *info, void *context)
{
    (void)sig, (void)info, (void)context;
    alarmed = 1;
}

static void set_s2(int sig, siginfo_t *info, void *context)
{
    (void)sig, (void)info;
    ((ucontext_t *)context)->uc_mcontext.__gregs[18] = 5;
}

static void set_fs0(int sig, siginfo_t *info, void *context)
{
    (void)sig, (void)info;
    double two = 2.0;
    memcpy(&((ucontext_t *)context)->uc_mcontext.__fpregs.__d.__f[8], &two, sizeof two);
}

static volatile uint64_t seen_s3;

static void note_s3(int sig, siginfo_t *info, void *context)
{
    (void)sig, (void)info;
    seen_s3 = ((ucontext_t *)context)->uc_mcontext.__gregs[19];
    alarmed = 1;
}

static void arm(void (*handler)(int, siginfo_t *, void *))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval t = {{0, 0}, {0, 2000}};
    setitimer(ITIMER_REAL, &t, NULL);
}

int main(void)
{
    /* Nothing changed: spins and a register sum advance together until the flag is seen. */
    arm(note_alarm);
    uint64_t spins = 0, sum = 0, step = 3;
    while (!alarmed) {
        spins++;
        sum += step;
    }
    printf("unchanged: sum is 3 x spins: %s\n", sum == 3 * spins ? "yes" : "no");

    /* s2 changed in the frame: the loop ends on it. */
    arm(set_s2);
    uint64_t s2, turns = 0;
    __asm__ volatile("li s2, 0\n"
                     "1: addi %0, %0, 1\n"
                     "beqz s2, 1b\n"
                     "mv %1, s2\n"
                     : "+r"(turns), "=r"(s2) : : "s2");
    printf("s2 from the handler: %lu, looped: %s\n", (unsigned long)s2, turns > 0 ? "yes" : "no");

    /* fs0 changed in the frame: the loop ends on it. */
    arm(set_fs0);
    uint64_t bits;
    turns = 0;
    __asm__ volatile("fmv.d.x fs0, zero\n"
                     "1: addi %0, %0, 1\n"
                     "fmv.x.d %1, fs0\n"
                     "beqz %1, 1b\n"
                     : "+r"(turns), "=&r"(bits) : : "fs0");
    double fs0;
    memcpy(&fs0, &bits, sizeof fs0);
    printf("fs0 from the handler: %g, looped: %s\n", fs0, turns > 0 ? "yes" : "no");

    /* s3 counts in a loop that loads the flag; the handler reads it from its frame. */
    alarmed = 0;
    register uint64_t count __asm__("s3") = 0;
    __asm__ volatile("" : "+r"(count));
    arm(note_s3);
    __asm__ volatile("1: lw t0, 0(%1)\n"
                     "addi %0, %0, 1\n"
                     "beqz t0, 1b\n"
                     : "+r"(count) : "r"(&alarmed) : "t0", "memory");
    printf("s3 seen by the handler is the loop's count: %s\n",
           seen_s3 > 0 && seen_s3 <= count ? "yes" : "no");
    return 0;
}
