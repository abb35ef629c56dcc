/* Floating point: dense double-precision matrix multiply (i-k-j order) and a trace checksum. */
#include <stdio.h>

#define N 256

static double a[N][N], b[N][N], c[N][N];

int main(void) {
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            a[i][j] = (double)((i * 7 + j * 3) % 17) / 16.0 - 0.5;
            b[i][j] = (double)((i * 5 + j * 11) % 19) / 18.0 + 0.25;
        }
    double sum = 0;
    for (int rep = 0; rep < 50; rep++) {
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) c[i][j] = 0;
        for (int i = 0; i < N; i++)
            for (int k = 0; k < N; k++) {
                double x = a[i][k];
                for (int j = 0; j < N; j++) c[i][j] += x * b[k][j];
            }
        for (int i = 0; i < N; i++) { sum += c[i][i]; a[i][(i + rep) % N] += c[i][N - 1 - i] * 1e-3; }
    }
    printf("matmul %.9e\n", sum);
    return 0;
}
