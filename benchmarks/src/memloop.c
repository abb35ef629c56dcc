/* Memory-bound loops: streaming copy/scale/add over arrays bigger than the caches, and random gathers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define N (4 * 1024 * 1024)

int main(void) {
    uint32_t *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b), *c = malloc(N * sizeof *c);
    for (uint32_t i = 0; i < N; i++) { a[i] = i * 2654435761u; b[i] = i ^ 0x5555; }
    uint64_t sum = 0;
    for (int rep = 0; rep < 12; rep++) {
        for (uint32_t i = 0; i < N; i++) c[i] = a[i] + 3 * b[i];
        for (uint32_t i = 0; i < N; i++) a[i] = c[i] ^ (b[i] >> 1);
        sum += c[rep * 1000];
    }
    uint32_t idx = 1;
    for (int i = 0; i < 6000000; i++) {
        idx = (idx * 1103515245u + 12345u) & (N - 1);
        sum += a[idx];
        b[idx] += (uint32_t)i;
    }
    for (uint32_t i = 0; i < N; i += 64) sum ^= b[i];
    printf("memloop %016llx\n", (unsigned long long)sum);
    free(a); free(b); free(c);
    return 0;
}
