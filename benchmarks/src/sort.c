/* Sorting: hand-written quicksort, heapsort and libc qsort (callbacks) on pseudo-random keys. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define N 600000

static void quick(uint32_t *a, long lo, long hi) {
    while (lo < hi) {
        uint32_t p = a[(lo + hi) / 2];
        long i = lo, j = hi;
        while (i <= j) {
            while (a[i] < p) i++;
            while (a[j] > p) j--;
            if (i <= j) { uint32_t t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
        }
        if (j - lo < hi - i) { quick(a, lo, j); lo = i; } else { quick(a, i, hi); hi = j; }
    }
}

static void sift(uint32_t *a, long n, long i) {
    for (;;) {
        long m = i, l = 2 * i + 1, r = l + 1;
        if (l < n && a[l] > a[m]) m = l;
        if (r < n && a[r] > a[m]) m = r;
        if (m == i) return;
        uint32_t t = a[i]; a[i] = a[m]; a[m] = t;
        i = m;
    }
}

static void heap(uint32_t *a, long n) {
    for (long i = n / 2 - 1; i >= 0; i--) sift(a, n, i);
    for (long e = n - 1; e > 0; e--) { uint32_t t = a[0]; a[0] = a[e]; a[e] = t; sift(a, e, 0); }
}

static int cmp(const void *x, const void *y) {
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

static uint64_t check(const uint32_t *a) {
    uint64_t h = 0;
    for (long i = 0; i < N; i++) { if (i && a[i - 1] > a[i]) return 0; h = h * 1000003u + a[i]; }
    return h;
}

static void fill(uint32_t *a, uint32_t seed) {
    for (long i = 0; i < N; i++) { seed ^= seed << 13; seed ^= seed >> 17; seed ^= seed << 5; a[i] = seed; }
}

int main(void) {
    uint32_t *a = malloc(N * sizeof *a);
    uint64_t h = 0;
    for (uint32_t r = 1; r <= 2; r++) {
        fill(a, r * 77); quick(a, 0, N - 1); h ^= check(a);
        fill(a, r * 91); heap(a, N); h += check(a);
        fill(a, r * 13); qsort(a, N, sizeof *a, cmp); h ^= check(a) >> 1;
    }
    printf("sort %016llx\n", (unsigned long long)h);
    free(a);
    return 0;
}
