/* The guest of the "one-function change" build benchmark: built twice, without and with -DV2,
 * which changes (and lengthens) the body of classify() and so moves everything after it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int table[64];

__attribute__((noinline)) int fill(int seed) {
    for (int i = 0; i < 64; i++) table[i] = (seed * 31 + i * 17) % 101;
    return table[7];
}

__attribute__((noinline)) int classify(int v) {
#ifndef V2
    return v > 50 ? 2 : v > 20 ? 1 : 0;
#else
    int r = 0;
    if (v > 90) r += 5;
    if (v > 50) r += 2;
    else if (v > 20) r += 1;
    if (v % 7 == 0) r *= 3;
    return r;
#endif
}

__attribute__((noinline)) int compare(const void *a, const void *b) {
    return *(const int *)a - *(const int *)b;
}

int main(int argc, char **argv) {
    int seed = argc > 1 ? atoi(argv[1]) : 5;
    long classes = 0;
    printf("fill=%d\n", fill(seed));
    for (int i = 0; i < 64; i++) classes += classify(table[i]);
    qsort(table, 64, sizeof table[0], compare);
    printf("classes=%ld min=%d len=%zu\n", classes, table[0], strlen(argv[0]));
    return 0;
}
