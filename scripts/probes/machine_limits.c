// The machine's own limits, for performance tables: DRAM read bandwidth at 1 and
// 2 threads, and f32 FMA throughput of one core.
//
// Built and run by scripts/probes/machine_limits.sh (see there for flags). Output:
// one JSON object on stdout.
//
// - DRAM read: each thread sums its own contiguous slice of a buffer far larger
//   than the last-level cache (default 1 GiB, `--mib`), with 8 independent vector
//   accumulators so the loads, not the adds, limit the loop; best of `--reps`
//   passes; GB/s = bytes read / seconds (1 GB = 1e9 bytes).
// - FMA: one thread runs `ACC` independent chains of vector FMAs (enough to
//   cover the FMA latency times the number of FMA ports), at the widest vector
//   the compiler was allowed (`-march=native`); GFLOP/s = 2 · lanes · FMAs / s.

#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__AVX512F__)
#define LANES 16
#elif defined(__AVX__)
#define LANES 8
#else
#define LANES 4
#endif

typedef float vf __attribute__((vector_size(LANES * 4)));

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

// ---------------------------------------------------------------- DRAM read

struct slice {
    const vf *p;
    size_t n;  // vectors
    vf sum;
    pthread_barrier_t *start;
    double seconds;
};

static void *read_slice(void *arg) {
    struct slice *s = arg;
    vf a[8] = {0};
    pthread_barrier_wait(s->start);
    double t0 = now();
    for (size_t i = 0; i + 8 <= s->n; i += 8)
        for (int j = 0; j < 8; j++) a[j] += s->p[i + j];
    s->seconds = now() - t0;
    for (int j = 1; j < 8; j++) a[0] += a[j];
    s->sum = a[0];
    return NULL;
}

// Best GB/s of `reps` passes over `bytes` with `threads` threads.
static double dram_read(const vf *buf, size_t bytes, int threads, int reps) {
    double best = 0;
    size_t per = bytes / sizeof(vf) / threads / 8 * 8;
    volatile float sink = 0;
    for (int r = 0; r < reps; r++) {
        pthread_t tid[64];
        struct slice s[64];
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, threads);
        for (int t = 0; t < threads; t++) {
            s[t] = (struct slice){buf + t * per, per, {0}, &start, 0};
            pthread_create(&tid[t], NULL, read_slice, &s[t]);
        }
        double slowest = 0;
        for (int t = 0; t < threads; t++) {
            pthread_join(tid[t], NULL);
            if (s[t].seconds > slowest) slowest = s[t].seconds;
            sink += s[t].sum[0];
        }
        pthread_barrier_destroy(&start);
        double gbs = (double)per * threads * sizeof(vf) / slowest / 1e9;
        if (gbs > best) best = gbs;
    }
    (void)sink;
    return best;
}

// ---------------------------------------------------------------------- FMA

#define ACC 12

static double fma_gflops(long iters) {
    vf x, y, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11;
    for (int l = 0; l < LANES; l++) {
        x[l] = 0.999999f;
        y[l] = 1e-7f;
        a0[l] = a1[l] = a2[l] = a3[l] = a4[l] = a5[l] = 1.0f;
        a6[l] = a7[l] = a8[l] = a9[l] = a10[l] = a11[l] = 2.0f;
    }
    double t0 = now();
    for (long i = 0; i < iters; i++) {
        // ACC independent chains, one FMA each; the empty asm keeps every
        // accumulator in a register and stops the compiler folding the loop.
        a0 = a0 * x + y; a1 = a1 * x + y; a2 = a2 * x + y; a3 = a3 * x + y;
        a4 = a4 * x + y; a5 = a5 * x + y; a6 = a6 * x + y; a7 = a7 * x + y;
        a8 = a8 * x + y; a9 = a9 * x + y; a10 = a10 * x + y; a11 = a11 * x + y;
        __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5));
        __asm__ volatile("" : "+x"(a6), "+x"(a7), "+x"(a8), "+x"(a9), "+x"(a10), "+x"(a11));
    }
    double s = now() - t0;
    vf sum = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
    volatile float sink = sum[0];
    (void)sink;
    return 2.0 * LANES * ACC * (double)iters / s / 1e9;
}

int main(int argc, char **argv) {
    size_t mib = 1024;
    int reps = 5;
    long fma_iters = 200L * 1000 * 1000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mib") && i + 1 < argc) mib = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--fma-iters") && i + 1 < argc) fma_iters = atol(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--mib N] [--reps N] [--fma-iters N]\n", argv[0]);
            return 2;
        }
    }
    if (mib == 0 || reps <= 0 || fma_iters <= 0) {
        fprintf(stderr, "--mib, --reps and --fma-iters must be positive\n");
        return 2;
    }
    size_t bytes = mib << 20;
    vf *buf = aligned_alloc(64, bytes);
    if (!buf) {
        fprintf(stderr, "cannot allocate %zu MiB\n", mib);
        return 1;
    }
    memset(buf, 1, bytes);  // touch every page before timing
    double one = dram_read(buf, bytes, 1, reps);
    double two = dram_read(buf, bytes, 2, reps);
    double fma = 0;
    for (int r = 0; r < 3; r++) {
        double g = fma_gflops(fma_iters);
        if (g > fma) fma = g;
    }
    printf("{\"dram_read_gbs_1t\": %.2f, \"dram_read_gbs_2t\": %.2f, "
           "\"fma_f32_gflops_per_core\": %.1f, \"vector_lanes\": %d, \"buffer_mib\": %zu}\n",
           one, two, fma, LANES, mib);
    free(buf);
    return 0;
}
