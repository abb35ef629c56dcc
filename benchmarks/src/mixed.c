/* Mixed workload: a hash table of strings (malloc, snprintf, strcmp), a small LZ-style scan and a
 * fixed-point filter; roughly what a small utility does. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 4096

struct entry { struct entry *next; char key[24]; long count; };

static struct entry *tab[BUCKETS];

static uint32_t hash(const char *s) {
    uint32_t h = 2166136261u;
    while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

static void bump(const char *k) {
    uint32_t b = hash(k) & (BUCKETS - 1);
    for (struct entry *e = tab[b]; e; e = e->next)
        if (strcmp(e->key, k) == 0) { e->count++; return; }
    struct entry *e = calloc(1, sizeof *e);
    strcpy(e->key, k);
    e->count = 1;
    e->next = tab[b];
    tab[b] = e;
}

int main(void) {
    char key[24];
    uint32_t s = 42;
    for (int i = 0; i < 600000; i++) {
        s = s * 1664525u + 1013904223u;
        snprintf(key, sizeof key, "k%u-%x", (s >> 20) % 5000, (s >> 9) & 7);
        bump(key);
    }
    long distinct = 0, maxc = 0;
    for (int b = 0; b < BUCKETS; b++)
        for (struct entry *e = tab[b], *n; e; e = n) {
            n = e->next; distinct++;
            if (e->count > maxc) maxc = e->count;
            free(e);
        }
    static uint8_t data[1 << 18];
    for (size_t i = 0; i < sizeof data; i++) { s = s * 1664525u + 1013904223u; data[i] = "abcab"[(s >> 24) % 5]; }
    long matched = 0;
    for (size_t i = 64; i < sizeof data; i += 7) {
        size_t best = 0;
        for (size_t d = 1; d <= 64; d++) {
            size_t l = 0;
            while (l < 32 && i + l < sizeof data && data[i + l] == data[i - d + l]) l++;
            if (l > best) best = l;
        }
        matched += (long)best;
    }
    int32_t y = 0, acc = 0;
    for (int i = 0; i < 8000000; i++) {
        int32_t x = (int32_t)((i * 2654435761u) >> 16) - 32768;
        y += ((x - y) * 3) >> 4;
        acc ^= y;
    }
    printf("mixed %ld %ld %ld %d\n", distinct, maxc, matched, acc);
    return 0;
}
