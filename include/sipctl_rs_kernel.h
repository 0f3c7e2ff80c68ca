/* Polyphase resampler inner loops, compiled twice: for the baseline ISA and for
 * AVX2+FMA, picked once at import by CPU feature detection. This is C rather than
 * Cython only because per-function target attributes have no Cython spelling.
 *
 * coef: up rows of taps floats (taps % 16 == 0); buf: float history + input;
 * *b: buffer index of the newest tap of the next output; *phase: its phase.
 * Output j: dot(coef[phase], buf[b-taps+1 .. b]); then phase += r, b += q (+1 on wrap).
 * Sixteen independent accumulators (several SIMD registers, so the FMA
 * latency chain is split): SIMD-friendly without reassociation, so the
 * result for an output never depends on alignment or chunking. */
#ifndef SIPCTL_RS_KERNEL_H
#define SIPCTL_RS_KERNEL_H
#include <stddef.h>
#include <stdint.h>
#include <math.h>

#define SIPCTL_RS_DOT(a, x, n, result)                                   \
    do {                                                                 \
        float acc_[16] = {0};                                            \
        for (ptrdiff_t i_ = 0; i_ < (n); i_ += 16)                       \
            for (int l_ = 0; l_ < 16; l_++)                              \
                acc_[l_] += (a)[i_ + l_] * (x)[i_ + l_];                 \
        for (int l_ = 0; l_ < 8; l_++) acc_[l_] += acc_[l_ + 8];         \
        for (int l_ = 0; l_ < 4; l_++) acc_[l_] += acc_[l_ + 4];         \
        result = (acc_[0] + acc_[2]) + (acc_[1] + acc_[3]);              \
    } while (0)

#define SIPCTL_RS_DEFINE(NAME, ATTR, OUT_T, STORE)                                  \
    ATTR static void NAME(const float *coef, int taps, int up, int q, int r,        \
                          const float *buf, ptrdiff_t *b, int *phase,               \
                          OUT_T *out, ptrdiff_t n_out) {                            \
        ptrdiff_t bb = *b;                                                          \
        int ph = *phase;                                                            \
        for (ptrdiff_t j = 0; j < n_out; j++) {                                     \
            float s;                                                                \
            SIPCTL_RS_DOT(coef + (ptrdiff_t)ph * taps, buf + bb - (taps - 1), taps, s); \
            STORE(out[j], s);                                                       \
            ph += r;                                                                \
            bb += q;                                                                \
            if (ph >= up) { ph -= up; bb += 1; }                                    \
        }                                                                           \
        *b = bb;                                                                    \
        *phase = ph;                                                                \
    }

#define SIPCTL_STORE_F32(dst, s) ((dst) = (s))
/* Saturate, then round to nearest even. setup.py compiles with -fno-math-errno,
 * so lrintf is a single conversion instruction rather than a libm call. */
#define SIPCTL_STORE_I16(dst, s)                                                    \
    do {                                                                            \
        float v_ = (s);                                                             \
        v_ = v_ > 32767.0f ? 32767.0f : (v_ < -32768.0f ? -32768.0f : v_);          \
        (dst) = (int16_t)lrintf(v_);                                                \
    } while (0)

typedef void (*sipctl_rs_f32_fn)(const float *, int, int, int, int, const float *,
                                 ptrdiff_t *, int *, float *, ptrdiff_t);
typedef void (*sipctl_rs_i16_fn)(const float *, int, int, int, int, const float *,
                                 ptrdiff_t *, int *, int16_t *, ptrdiff_t);

SIPCTL_RS_DEFINE(sipctl_rs_f32_base, , float, SIPCTL_STORE_F32)
SIPCTL_RS_DEFINE(sipctl_rs_i16_base, , int16_t, SIPCTL_STORE_I16)

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
SIPCTL_RS_DEFINE(sipctl_rs_f32_avx2, __attribute__((target("avx2,fma"))), float, SIPCTL_STORE_F32)
SIPCTL_RS_DEFINE(sipctl_rs_i16_avx2, __attribute__((target("avx2,fma"))), int16_t, SIPCTL_STORE_I16)
static int sipctl_rs_have_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
#define sipctl_rs_f32_avx2 sipctl_rs_f32_base
#define sipctl_rs_i16_avx2 sipctl_rs_i16_base
static int sipctl_rs_have_avx2(void) { return 0; }
#endif

/* Output-parallel FIR for the integer-ratio cases (up-only or down-only):
 *   y[i] = sum_{m<M} sum_{s<S} cm[m*S + s] * xs[m*stride + i + s],   0 <= i < n,
 * n a multiple of 32. xs holds M streams (M = 1: the input itself; M > 1: the
 * input deinterleaved by M). 32 outputs are computed at once in four 8-lane
 * accumulators: no horizontal sums, and every output sees the same sequence of
 * operations in its own lane, so results do not depend on chunking. */
typedef float sipctl_v8 __attribute__((vector_size(32)));
typedef float sipctl_v8u __attribute__((vector_size(32), aligned(4)));

#define SIPCTL_FIR_DEFINE(NAME, ATTR)                                               \
    ATTR static void NAME(const float *cm, int M, int S, const float *xs,            \
                          ptrdiff_t stride, ptrdiff_t n, float *y) {                 \
        for (ptrdiff_t i = 0; i < n; i += 32) {                                     \
            sipctl_v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                        \
            for (int m = 0; m < M; m++) {                                           \
                const float *x = xs + m * stride + i;                               \
                const float *c = cm + (ptrdiff_t)m * S;                             \
                for (int s = 0; s < S; s++) {                                       \
                    const float cs = c[s];                                          \
                    a0 += cs * *(const sipctl_v8u *)(x + s);                        \
                    a1 += cs * *(const sipctl_v8u *)(x + s + 8);                    \
                    a2 += cs * *(const sipctl_v8u *)(x + s + 16);                   \
                    a3 += cs * *(const sipctl_v8u *)(x + s + 24);                   \
                }                                                                   \
            }                                                                       \
            *(sipctl_v8u *)(y + i) = a0;                                            \
            *(sipctl_v8u *)(y + i + 8) = a1;                                        \
            *(sipctl_v8u *)(y + i + 16) = a2;                                       \
            *(sipctl_v8u *)(y + i + 24) = a3;                                       \
        }                                                                           \
    }

typedef void (*sipctl_fir_fn)(const float *, int, int, const float *, ptrdiff_t, ptrdiff_t, float *);
SIPCTL_FIR_DEFINE(sipctl_fir_base, )
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
SIPCTL_FIR_DEFINE(sipctl_fir_avx2, __attribute__((target("avx2,fma"))))
#else
#define sipctl_fir_avx2 sipctl_fir_base
#endif

/* float -> int16 as SIPCTL_STORE_I16; dst[i*step] = src[i]. */
static void sipctl_store_i16(const float *src, ptrdiff_t n, int16_t *dst, ptrdiff_t step) {
    for (ptrdiff_t i = 0; i < n; i++)
        SIPCTL_STORE_I16(dst[i * step], src[i]);
}

#endif
