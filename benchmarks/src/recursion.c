/* Deep recursion: naive Fibonacci, Ackermann and a recursive tree build/sum. */
#include <stdio.h>
#include <stdlib.h>

static long fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static long ack(long m, long n) {
    if (m == 0) return n + 1;
    if (n == 0) return ack(m - 1, 1);
    return ack(m - 1, ack(m, n - 1));
}

struct node { struct node *l, *r; long v; };

static struct node *build(int depth, long v) {
    struct node *n = malloc(sizeof *n);
    n->v = v;
    n->l = depth ? build(depth - 1, 2 * v) : NULL;
    n->r = depth ? build(depth - 1, 2 * v + 1) : NULL;
    return n;
}

static long sum(struct node *n) {
    if (!n) return 0;
    long s = n->v ^ sum(n->l);
    s += sum(n->r);
    free(n);
    return s;
}

int main(void) {
    long f = fib(32);
    long a = ack(2, 2000) + ack(3, 7);
    long t = 0;
    for (int i = 0; i < 4; i++) t += sum(build(18, i));
    printf("recursion %ld %ld %ld\n", f, a, t);
    return 0;
}
