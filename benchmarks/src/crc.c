/* Hashing: table-driven CRC-32, bitwise CRC-32C, FNV-1a and a 64-bit multiply-xorshift hash over a buffer. */
#include <stdint.h>
#include <stdio.h>

static uint8_t buf[1 << 16];
static uint32_t table[256];

int main(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    uint32_t s = 1;
    for (size_t i = 0; i < sizeof buf; i++) { s = s * 1103515245u + 12345u; buf[i] = (uint8_t)(s >> 16); }
    uint32_t crc = 0, crcc = 0;
    uint64_t fnv = 0xcbf29ce484222325u, mx = 0;
    for (int rep = 0; rep < 1200; rep++) {
        uint32_t c = ~crc;
        for (size_t i = 0; i < sizeof buf; i++) c = table[(c ^ buf[i]) & 0xff] ^ (c >> 8);
        crc = ~c;
        for (size_t i = 0; i < sizeof buf; i++) { fnv ^= buf[i]; fnv *= 0x100000001b3u; }
        const uint64_t *w = (const uint64_t *)buf;
        for (size_t i = 0; i < sizeof buf / 8; i++) {
            uint64_t x = w[i] + mx;
            x ^= x >> 31; x *= 0x7fb5d329728ea185u; x ^= x >> 27;
            mx = x;
        }
        if (rep % 64 == 0) {
            uint32_t d = ~crcc;
            for (size_t i = 0; i < sizeof buf; i++) {
                d ^= buf[i];
                for (int k = 0; k < 8; k++) d = (d >> 1) ^ (0x82f63b78u & (0u - (d & 1)));
            }
            crcc = ~d;
        }
        buf[rep & 0xffff] ^= (uint8_t)crc;
    }
    printf("crc %08x %08x %016llx %016llx\n", crc, crcc, (unsigned long long)fnv, (unsigned long long)mx);
    return 0;
}
