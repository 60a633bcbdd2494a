/* matmul_kernel.c — the row kernel shared by every matmul variant (built by
 * gcc for all of them, so the OpenMP-under-clang binary runs the same code). */
#include "matmul.h"

void mm_rows(const mm *m, int r0, int r1)
{
    int n = m->n;
    for (int i = r0; i < r1; i++) {
        double *restrict ci = m->c + (size_t)i * n;
        const double *ai = m->a + (size_t)i * n;
        for (int j = 0; j < n; j++)
            ci[j] = 0.0;
        for (int k = 0; k < n; k++) {
            double aik = ai[k];
            const double *restrict bk = m->b + (size_t)k * n;
            for (int j = 0; j < n; j++)
                ci[j] += aik * bk[j];
        }
    }
}
