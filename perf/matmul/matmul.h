/* matmul.h — C = A * B, n x n doubles (n = 1024; --quick 512), rows in
 * parallel, i-k-j loop order. Entries are small integers, so every product
 * and sum is exact and the checksum (sum of C, as an integer) is the same in
 * any order: it is checked against sum_k colsum_A(k) * rowsum_B(k). */
#ifndef PERF_MATMUL_H
#define PERF_MATMUL_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#define MM_N(quick) ((quick) ? 512 : 1024)
#define MM_NAME(quick) ((quick) ? "matmul512" : "matmul1024")

typedef struct mm {
    int n;
    double *a, *b, *c;
} mm;

static inline void mm_init(mm *m, int n)
{
    size_t sz = (size_t)n * (size_t)n;
    m->n = n;
    m->a = (double *)malloc(sz * sizeof(double));
    m->b = (double *)malloc(sz * sizeof(double));
    m->c = (double *)malloc(sz * sizeof(double));
    if (!m->a || !m->b || !m->c) {
        fprintf(stderr, "matmul: out of memory\n");
        exit(1);
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            m->a[(size_t)i * n + j] = (double)((i * 3 + j) % 5);
            m->b[(size_t)i * n + j] = (double)((i + 2 * j) % 7);
            m->c[(size_t)i * n + j] = 0.0;
        }
}

static inline uint64_t mm_expected(const mm *m)
{
    int n = m->n;
    uint64_t s = 0;
    for (int k = 0; k < n; k++) {
        uint64_t ca = 0, rb = 0;
        for (int i = 0; i < n; i++)
            ca += (uint64_t)m->a[(size_t)i * n + k];
        for (int j = 0; j < n; j++)
            rb += (uint64_t)m->b[(size_t)k * n + j];
        s += ca * rb;
    }
    return s;
}

/* Rows [r0, r1) of C (matmul_kernel.c: compiled once by gcc -O2 and linked
 * into every variant, so every runtime runs the same machine code). */
#ifdef __cplusplus
extern "C"
#endif
    void
    mm_rows(const mm *m, int r0, int r1);

static inline uint64_t mm_checksum(const mm *m)
{
    size_t sz = (size_t)m->n * (size_t)m->n;
    uint64_t s = 0;
    for (size_t i = 0; i < sz; i++)
        s += (uint64_t)m->c[i];
    return s;
}
#endif
