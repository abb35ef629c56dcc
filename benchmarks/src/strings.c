/* String processing: build text, tokenise it, count words with strcmp/strlen/memcpy, reverse and search. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const char *words[] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
                              "iota", "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi"};

static char text[1 << 20];

int main(void) {
    uint32_t s = 7;
    size_t len = 0;
    while (len < sizeof text - 16) {
        s = s * 1664525u + 1013904223u;
        const char *w = words[s >> 28];
        size_t n = strlen(w);
        memcpy(text + len, w, n);
        len += n;
        text[len++] = (s & 0x300) ? ' ' : ',';
    }
    text[len] = 0;
    uint64_t h = 0;
    unsigned counts[16] = {0};
    for (int pass = 0; pass < 12; pass++) {
        char *p = text;
        while (*p) {
            char *q = p;
            while (*q && *q != ' ' && *q != ',') q++;
            size_t n = (size_t)(q - p);
            for (int k = 0; k < 16; k++)
                if (strlen(words[k]) == n && strncmp(words[k], p, n) == 0) { counts[k]++; break; }
            for (size_t i = 0; i < n; i++) h = h * 31 + (unsigned char)p[i];
            p = *q ? q + 1 : q;
        }
        for (size_t i = 0, j = len - 1; i < j; i++, j--) { char t = text[i]; text[i] = text[j]; text[j] = t; }
    }
    size_t hits = 0;
    for (const char *p = text; (p = memchr(p, 'd', (size_t)(text + len - p))) != NULL; p++)
        if (memcmp(p, "delta", 5) == 0) hits++;
    printf("strings %016llx %zu", (unsigned long long)h, hits);
    for (int k = 0; k < 16; k++) printf(" %u", counts[k]);
    printf("\n");
    return 0;
}
