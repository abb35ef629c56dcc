/* Indirect tail calls: `return table[i](...)` compiles to `jr a5`, a jump through a register that
 * is not a link register.  ping and pong call each other that way 3,000,000 times deep (a host
 * frame per jump would overflow the stack); the even/odd pair are 8 KiB aligned, so their pcs
 * share one entry cache slot and each jump evicts the other's entry.  Last, a loop made of such
 * jumps alone (no loop in any function) runs until a SIGALRM handler has run three times: it
 * only ends if the jumps pass a safe point. */
#include <signal.h>
#include <stdio.h>
#include <sys/time.h>

#define SLOT_SHARER __attribute__((noinline, aligned(8192)))

typedef long (*step_fn)(long n, long acc);
static volatile step_fn table[4];
static volatile sig_atomic_t ticks;

__attribute__((noinline)) static long ping(long n, long acc)
{
    return n == 0 ? acc : table[1](n - 1, acc * 31 + n);
}

__attribute__((noinline)) static long pong(long n, long acc)
{
    return n == 0 ? acc : table[0](n - 1, acc ^ (n << 3));
}

SLOT_SHARER static long even(long n, long acc)
{
    return n == 0 ? acc : table[3](n - 1, acc + 7 * n);
}

SLOT_SHARER static long odd(long n, long acc)
{
    return n == 0 ? acc : table[2](n - 1, acc - (n >> 1));
}

__attribute__((noinline)) static long until_ticks(long n, long acc)
{
    return ticks >= 3 ? acc : table[0](n, acc + 1);
}

static void on_alarm(int sig)
{
    (void)sig;
    ticks++;
}

int main(void)
{
    table[0] = ping, table[1] = pong, table[2] = even, table[3] = odd;
    printf("ping-pong: %ld\n", table[0](3000000, 1));
    printf("shared slot: %ld\n", table[2](3000000, 5));
    signal(SIGALRM, on_alarm);
    struct itimerval every_ms = {{0, 1000}, {0, 1000}};
    setitimer(ITIMER_REAL, &every_ms, 0);
    table[0] = until_ticks;
    long jumps = until_ticks(0, 0);
    every_ms = (struct itimerval){0};
    setitimer(ITIMER_REAL, &every_ms, 0);
    printf("ticks: %d, jumped: %s\n", (int)ticks >= 3, jumps > 0 ? "yes" : "no");
    return 0;
}
