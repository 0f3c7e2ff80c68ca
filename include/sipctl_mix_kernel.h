/* Conference mixer inner loops (mix-minus with Q12 gains and a soft limiter), in a
 * portable build and an AVX2 build picked once at import. C rather than Cython
 * only because per-function target attributes and intrinsics have no Cython spelling.
 *
 * Arithmetic (all integer; >> is an arithmetic shift, which gcc guarantees):
 *   c   = (x * gin + 2048) >> 12            gained input, gin in Q12 (0..32768)
 *   S   = sum of c over contributing rows   int32: |c| <= 2^18, rows <= 8191
 *   y_i = S - c_i (c_i only if i contributes)
 *   v_i = (y_i * gout + 2048) >> 12         computed as yh*g + ((yl*g + 2048) >> 12),
 *                                           y = yh*4096 + yl, yh clamped to +-bound where
 *                                           bound*g >= LIMIT_IN + 32760: the clamp only
 *                                           touches values the limiter maps to +-32767
 *   out = sipctl_mix_limit(v)
 * The NumPy reference (_media/reference/mixer.py) computes the same in int64.
 *
 * A build's sum and rows functions share the bus layout and must be used together:
 * the AVX2 build keeps each full block of 16 bus samples in unpack order
 * (0-3, 8-11, 4-7, 12-15), which lets 16-bit inputs widen with one unpack and the
 * results narrow with one pack, no lane fix-ups. */
#ifndef SIPCTL_MIX_KERNEL_H
#define SIPCTL_MIX_KERNEL_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SIPCTL_MIX_ONE 4096       /* unit gain in Q12 */
#define SIPCTL_MIX_KNEE 24575     /* limiter is the identity up to here (0.75 full scale) */
#define SIPCTL_MIX_WIDTH 16384    /* width of the soft region */
#define SIPCTL_MIX_LIMIT_IN 40959 /* KNEE + WIDTH: |v| from which the output is 32767 */

#define SIPCTL_MIX_INLINE static inline __attribute__((always_inline))

/* Soft limiter: quadratic soft knee, odd, monotonic (non-decreasing), C1:
 *   |v| <= KNEE:         v
 *   u = |v| - KNEE < W:  sign(v) * (KNEE + u - round(u^2 / 2W))    slope 1 - u/W
 *   |v| >= KNEE + W:     sign(v) * 32767                           (KNEE + W/2)
 * 2W = 2^15: round(u^2 / 2W) = (u*u + 2^14) >> 15, one pmulhrsw in 16-bit lanes.
 * Consecutive u change it by at most 1, so the curve never decreases; outputs
 * stay in [-32767, 32767]. */
SIPCTL_MIX_INLINE int32_t sipctl_mix_limit(int32_t v) {
    int32_t a = v < 0 ? -v : v;
    int32_t u = a - SIPCTL_MIX_KNEE;
    u = u < 0 ? 0 : (u > SIPCTL_MIX_WIDTH ? SIPCTL_MIX_WIDTH : u);
    int32_t m = (a < SIPCTL_MIX_KNEE ? a : SIPCTL_MIX_KNEE) + u - ((u * u + 16384) >> 15);
    return v < 0 ? -m : m;
}

SIPCTL_MIX_INLINE int32_t sipctl_mix_gain(int32_t x, int32_t g) { return (x * g + 2048) >> 12; }

/* One sample of a row before the limiter: y = acc - own, then the output gain. */
SIPCTL_MIX_INLINE int32_t
sipctl_mix_v(int32_t acc, int32_t x, int32_t gi, int32_t go, int32_t b, int SUB, int UIN, int UOUT) {
    int32_t y = acc;
    if (SUB)
        y -= UIN ? x : sipctl_mix_gain(x, gi);
    if (UOUT)
        return y;
    int32_t yh = y >> 12, yl = y & 4095;
    yh = yh < -b ? -b : (yh > b ? b : yh);
    return yh * go + ((yl * go + 2048) >> 12);
}

/* Samples t0..f of a row, natural order (the portable build and the AVX2 tails). */
SIPCTL_MIX_INLINE void
sipctl_mix_row_scalar(const int16_t *restrict x, const int32_t *restrict acc, int16_t *restrict out,
                      ptrdiff_t t0, ptrdiff_t f, int32_t gi, int32_t go, int32_t b,
                      int SUB, int UIN, int UOUT) {
    for (ptrdiff_t t = t0; t < f; t++)
        out[t] = (int16_t)sipctl_mix_limit(sipctl_mix_v(acc[t], x[t], gi, go, b, SUB, UIN, UOUT));
}

SIPCTL_MIX_INLINE void
sipctl_mix_row_base(const int16_t *restrict x, const int32_t *restrict acc, int16_t *restrict out,
                    ptrdiff_t f, int32_t gi, int32_t go, int32_t b, int SUB, int UIN, int UOUT) {
    sipctl_mix_row_scalar(x, acc, out, 0, f, gi, go, b, SUB, UIN, UOUT);
}

/* All output rows. contrib[i]: row i is in acc (subtract its own); deaf[i]: silence.
 * Each (SUB, UIN, UOUT) combination is a constant at its call site: its own loop.
 * Rows outside the bus with unit output gain all hear the same: computed once. */
#define SIPCTL_MIX_ROWS_DEFINE(NAME, ATTR, ROW)                                           \
    ATTR static void NAME(const int16_t *x, ptrdiff_t n, ptrdiff_t f, const int32_t *gin,  \
                          const int32_t *gout, const int32_t *bound, const uint8_t *contrib, \
                          const uint8_t *deaf, const int32_t *acc, int16_t *out) {        \
        const int16_t *bus_out = NULL;                                                  \
        for (ptrdiff_t i = 0; i < n; i++) {                                             \
            const int16_t *xi = x + i * f;                                              \
            int16_t *oi = out + i * f;                                                  \
            int32_t gi = gin[i], go = gout[i], b = bound[i];                            \
            int uout = go == SIPCTL_MIX_ONE;                                            \
            if (deaf[i] || go == 0)                                                     \
                memset(oi, 0, (size_t)f * sizeof(int16_t));                             \
            else if (!contrib[i] && uout && bus_out)                                    \
                memcpy(oi, bus_out, (size_t)f * sizeof(int16_t));                       \
            else if (!contrib[i] && uout)                                               \
                ROW(xi, acc, oi, f, gi, go, b, 0, 0, 1), bus_out = oi;                  \
            else if (!contrib[i])                                                       \
                ROW(xi, acc, oi, f, gi, go, b, 0, 0, 0);                                \
            else if (gi == SIPCTL_MIX_ONE)                                              \
                uout ? ROW(xi, acc, oi, f, gi, go, b, 1, 1, 1)                          \
                     : ROW(xi, acc, oi, f, gi, go, b, 1, 1, 0);                         \
            else                                                                        \
                uout ? ROW(xi, acc, oi, f, gi, go, b, 1, 0, 1)                          \
                     : ROW(xi, acc, oi, f, gi, go, b, 1, 0, 0);                         \
        }                                                                               \
    }

/* Bus: acc[t] = sum of the gained inputs of rows[0..nr), natural order. */
static void sipctl_mix_sum_base(const int16_t *x, ptrdiff_t f, const int32_t *rows, ptrdiff_t nr,
                                const int32_t *gin, int32_t *restrict acc) {
    memset(acc, 0, (size_t)f * sizeof(int32_t));
    for (ptrdiff_t j = 0; j < nr; j++) {
        const int16_t *restrict p = x + (ptrdiff_t)rows[j] * f;
        int32_t g = gin[rows[j]];
        for (ptrdiff_t t = 0; t < f; t++)
            acc[t] += sipctl_mix_gain(p[t], g);
    }
}

/* energy[i] = sum(c^2) of row i's gained input if eligible[i], else 0.
 * int64: |c| <= 2^18 and f <= 2^20. */
static void sipctl_mix_energy_base(const int16_t *x, ptrdiff_t n, ptrdiff_t f, const int32_t *gin,
                                   const uint8_t *eligible, int64_t *energy) {
    for (ptrdiff_t i = 0; i < n; i++) {
        const int16_t *restrict p = x + i * f;
        int64_t e = 0;
        if (eligible[i])
            for (ptrdiff_t t = 0; t < f; t++) {
                int64_t c = sipctl_mix_gain(p[t], gin[i]);
                e += c * c;
            }
        energy[i] = e;
    }
}

SIPCTL_MIX_ROWS_DEFINE(sipctl_mix_rows_base, , sipctl_mix_row_base)

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define SIPCTL_MIX_AVX2 __attribute__((target("avx2")))
#define SIPCTL_MIX_LD(p) _mm256_loadu_si256((const __m256i *)(p))
#define SIPCTL_MIX_ST(p, v) _mm256_storeu_si256((__m256i *)(p), (v))

/* 16 int16 -> two int32 vectors in unpack order. */
SIPCTL_MIX_INLINE SIPCTL_MIX_AVX2 void sipctl_mix_widen(__m256i x, __m256i *lo, __m256i *hi) {
    __m256i sign = _mm256_srai_epi16(x, 15);
    *lo = _mm256_unpacklo_epi16(x, sign);
    *hi = _mm256_unpackhi_epi16(x, sign);
}

SIPCTL_MIX_INLINE SIPCTL_MIX_AVX2 __m256i sipctl_mix_gain8(__m256i x, __m256i g) {
    return _mm256_srai_epi32(_mm256_add_epi32(_mm256_mullo_epi32(x, g), _mm256_set1_epi32(2048)), 12);
}

/* 8 samples of sipctl_mix_v (x already widened). */
SIPCTL_MIX_INLINE SIPCTL_MIX_AVX2 __m256i
sipctl_mix_v8(__m256i y, __m256i x, __m256i gi, __m256i go, __m256i b, int SUB, int UIN, int UOUT) {
    if (SUB)
        y = _mm256_sub_epi32(y, UIN ? x : sipctl_mix_gain8(x, gi));
    if (UOUT)
        return y;
    __m256i yh = _mm256_srai_epi32(y, 12);
    __m256i yl = _mm256_and_si256(y, _mm256_set1_epi32(4095));
    yh = _mm256_max_epi32(_mm256_min_epi32(yh, b), _mm256_sub_epi32(_mm256_setzero_si256(), b));
    return _mm256_add_epi32(_mm256_mullo_epi32(yh, go), sipctl_mix_gain8(yl, go));
}

/* sipctl_mix_limit on 16 samples in 16-bit lanes: |v| saturated to uint16 loses
 * nothing (the curve is flat from 40959), and v saturated to int16 keeps its sign. */
SIPCTL_MIX_INLINE SIPCTL_MIX_AVX2 __m256i sipctl_mix_limit16(__m256i v0, __m256i v1) {
    const __m256i knee = _mm256_set1_epi16(SIPCTL_MIX_KNEE);
    const __m256i width = _mm256_set1_epi16(SIPCTL_MIX_WIDTH);
    __m256i a = _mm256_packus_epi32(_mm256_abs_epi32(v0), _mm256_abs_epi32(v1));
    __m256i s = _mm256_packs_epi32(v0, v1);
    __m256i u = _mm256_min_epu16(_mm256_subs_epu16(a, knee), width);
    __m256i u2 = _mm256_mulhrs_epi16(u, u);            /* (u*u + 2^14) >> 15; u <= 2^14 */
    __m256i m = _mm256_add_epi16(_mm256_min_epu16(a, knee), _mm256_sub_epi16(u, u2));
    return _mm256_sign_epi16(m, s);
}

SIPCTL_MIX_INLINE SIPCTL_MIX_AVX2 void
sipctl_mix_row_avx2(const int16_t *restrict x, const int32_t *restrict acc, int16_t *restrict out,
                    ptrdiff_t f, int32_t gi, int32_t go, int32_t b, int SUB, int UIN, int UOUT) {
    __m256i gi8 = _mm256_set1_epi32(gi), go8 = _mm256_set1_epi32(go), b8 = _mm256_set1_epi32(b);
    __m256i x0 = _mm256_setzero_si256(), x1 = x0;
    ptrdiff_t t = 0;
    for (; t + 16 <= f; t += 16) {
        if (SUB)
            sipctl_mix_widen(SIPCTL_MIX_LD(x + t), &x0, &x1);
        __m256i v0 = sipctl_mix_v8(SIPCTL_MIX_LD(acc + t), x0, gi8, go8, b8, SUB, UIN, UOUT);
        __m256i v1 = sipctl_mix_v8(SIPCTL_MIX_LD(acc + t + 8), x1, gi8, go8, b8, SUB, UIN, UOUT);
        SIPCTL_MIX_ST(out + t, sipctl_mix_limit16(v0, v1));   /* packs undo the unpack order */
    }
    sipctl_mix_row_scalar(x, acc, out, t, f, gi, go, b, SUB, UIN, UOUT);
}

/* Bus in the AVX2 layout. Runs of eight unit-gain rows add pairwise with madd
 * (x_a + x_b in int32, no overflow) and touch acc once per eight. */
SIPCTL_MIX_AVX2 static void sipctl_mix_sum_avx2(const int16_t *x, ptrdiff_t f, const int32_t *rows,
                                                ptrdiff_t nr, const int32_t *gin, int32_t *restrict acc) {
    const __m256i one = _mm256_set1_epi16(1);
    ptrdiff_t f16 = f & ~(ptrdiff_t)15, j = 0;
    memset(acc, 0, (size_t)f * sizeof(int32_t));
    while (j < nr) {
        int run8 = j + 8 <= nr;
        for (int k = 0; run8 && k < 8; k++)
            run8 = gin[rows[j + k]] == SIPCTL_MIX_ONE;
        if (run8) {
            const int16_t *p[8];
            for (int k = 0; k < 8; k++)
                p[k] = x + (ptrdiff_t)rows[j + k] * f;
            for (ptrdiff_t t = 0; t < f16; t += 16) {
                __m256i lo = SIPCTL_MIX_LD(acc + t), hi = SIPCTL_MIX_LD(acc + t + 8);
                for (int k = 0; k < 8; k += 2) {
                    __m256i a = SIPCTL_MIX_LD(p[k] + t), b = SIPCTL_MIX_LD(p[k + 1] + t);
                    lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(a, b), one));
                    hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(a, b), one));
                }
                SIPCTL_MIX_ST(acc + t, lo);
                SIPCTL_MIX_ST(acc + t + 8, hi);
            }
            for (ptrdiff_t t = f16; t < f; t++)
                for (int k = 0; k < 8; k++)
                    acc[t] += p[k][t];
            j += 8;
        } else {
            const int16_t *p = x + (ptrdiff_t)rows[j] * f;
            int32_t g = gin[rows[j]];
            __m256i g8 = _mm256_set1_epi32(g), lo, hi;
            for (ptrdiff_t t = 0; t < f16; t += 16) {
                sipctl_mix_widen(SIPCTL_MIX_LD(p + t), &lo, &hi);
                SIPCTL_MIX_ST(acc + t, _mm256_add_epi32(SIPCTL_MIX_LD(acc + t), sipctl_mix_gain8(lo, g8)));
                SIPCTL_MIX_ST(acc + t + 8, _mm256_add_epi32(SIPCTL_MIX_LD(acc + t + 8), sipctl_mix_gain8(hi, g8)));
            }
            for (ptrdiff_t t = f16; t < f; t++)
                acc[t] += sipctl_mix_gain(p[t], g);
            j += 1;
        }
    }
}

/* As sipctl_mix_energy_base. Unit gain: madd gives x0^2 + x1^2 <= 2^31, exact as
 * uint32, widened to 64-bit lanes before accumulating. */
SIPCTL_MIX_AVX2 static void sipctl_mix_energy_avx2(const int16_t *x, ptrdiff_t n, ptrdiff_t f,
                                                   const int32_t *gin, const uint8_t *eligible,
                                                   int64_t *energy) {
    ptrdiff_t f16 = f & ~(ptrdiff_t)15;
    for (ptrdiff_t i = 0; i < n; i++) {
        const int16_t *p = x + i * f;
        if (!eligible[i] || gin[i] != SIPCTL_MIX_ONE) {
            sipctl_mix_energy_base(p, 1, f, gin + i, eligible + i, energy + i);
            continue;
        }
        __m256i e = _mm256_setzero_si256(), zero = e;
        for (ptrdiff_t t = 0; t < f16; t += 16) {
            __m256i xv = SIPCTL_MIX_LD(p + t), sq = _mm256_madd_epi16(xv, xv);
            e = _mm256_add_epi64(e, _mm256_add_epi64(_mm256_unpacklo_epi32(sq, zero),
                                                     _mm256_unpackhi_epi32(sq, zero)));
        }
        int64_t lanes[4];
        SIPCTL_MIX_ST(lanes, e);
        int64_t s = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
        for (ptrdiff_t t = f16; t < f; t++)
            s += (int64_t)p[t] * p[t];
        energy[i] = s;
    }
}

SIPCTL_MIX_ROWS_DEFINE(sipctl_mix_rows_avx2, SIPCTL_MIX_AVX2, sipctl_mix_row_avx2)

static int sipctl_mix_have_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}
#else
#define sipctl_mix_sum_avx2 sipctl_mix_sum_base
#define sipctl_mix_rows_avx2 sipctl_mix_rows_base
#define sipctl_mix_energy_avx2 sipctl_mix_energy_base
static int sipctl_mix_have_avx2(void) { return 0; }
#endif

typedef void (*sipctl_mix_sum_fn)(const int16_t *, ptrdiff_t, const int32_t *, ptrdiff_t,
                                  const int32_t *, int32_t *);
typedef void (*sipctl_mix_rows_fn)(const int16_t *, ptrdiff_t, ptrdiff_t, const int32_t *,
                                   const int32_t *, const int32_t *, const uint8_t *,
                                   const uint8_t *, const int32_t *, int16_t *);
typedef void (*sipctl_mix_energy_fn)(const int16_t *, ptrdiff_t, ptrdiff_t, const int32_t *,
                                     const uint8_t *, int64_t *);

#endif
