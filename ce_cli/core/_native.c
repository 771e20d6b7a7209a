/* ce_cli.core._native: ce's compiled kernels, each the fused form of a numpy path that stays
 * as the fallback (ce_cli/core/native.py loads this module; CE_NATIVE=0 turns it off; without
 * a C compiler at install it is simply not built). Every call releases the GIL.
 *
 * ce_block(x, target, inv_t, top, picked, argmax, sums) -> bool — the cross-entropy kernel
 * behind losses.ce_index_rows. x is a block (C, m): C classes, m rows, with each class's m
 * values contiguous (an F-order batch viewed transposed) or each row's C values contiguous (a
 * C-order one). For every row i it writes
 *
 *     top[i]    = max_c x[c, i]                      (as float64)
 *     argmax[i] = the first c with x[c, i] = top[i]  (np.argmax's tie rule)
 *     picked[i] = x[target[i], i]                    (as float64)
 *     sums[i]   = Σ_c exp((x[c, i] − top[i])·inv_t)  (in float64; 1 ≤ sums[i] ≤ C)
 *
 * in two passes over each cache-sized group of rows (maximum and first argmax on the input
 * type; then the float64 exponentials). It returns False when some row's sum is not finite (a
 * NaN or ±inf logit): the caller then computes that block the numpy way.
 *
 * exp_moments(x, target, beta, e, s, sumsq, picked, top, argmax, moments) — the calibration
 * kernel's and the temperature fit's, for a class-major block: each row's maximum and first
 * argmax, e = exp(β·d) (C, m) with d = x − top, s = Σ_c e, sumsq = Σ_c e², picked = (x_y, e_y,
 * d_y) and the raw moments Σ_c e·d^k / s, k = 1…K (K = 0, 2 or 4 rows of `moments`).
 *
 * candidates(e, s, edge, winv, w, mask, rest_conf, rest_weight) — the classwise bins' candidate
 * entries of a block (e ≥ s·edge) and the per-class sums of the others.
 *
 * exp is written out (not libm's) so that the compiler vectorises the sums: Cody–Waite
 * reduction d = k·ln2 + r with |r| ≤ ln2/2, a degree-11 polynomial for e^r, and 2^k from the
 * exponent bits. Within 2 ulp of the correctly rounded value for d in [−708, 0]
 * (tests/test_native.py); 0 below −708, which is < 1e-307 of a row's largest term.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__) && !defined(__clang__)
/* one build that uses AVX-512 or AVX2 where the CPU has them (chosen once, at load) */
#define CE_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CE_CLONES
#endif

static inline double exp_nonpositive(double d) {
    const double log2e = 1.4426950408889634;
    const double ln2_hi = 6.93147180369123816490e-01; /* ln2_hi·k is exact for |k| < 2^11 */
    const double ln2_lo = 1.90821492927058770002e-10;
    const double shifter = 6755399441055744.0; /* 1.5·2^52: t − shifter rounds to an integer */
    double dc = d > -708.0 ? d : -708.0;       /* also maps NaN to a finite value */
    double t = dc * log2e + shifter;
    double k = t - shifter;
    double r = (dc - k * ln2_hi) - k * ln2_lo;
    /* e^r ≈ 1 + r + r²·g(r), g of degree 9 interpolating (e^r − 1 − r)/r² at the Chebyshev
     * nodes of [−ln2/2, ln2/2] (computed in 50 digits): relative error 2.2e-16 in float64,
     * with two multiply-adds fewer than the Taylor polynomial of the same accuracy */
    double p = 2.5100375832561234e-08;
    p = p * r + 2.7620075879983367e-07;
    p = p * r + 2.7557268480310024e-06;
    p = p * r + 2.4801521322368692e-05;
    p = p * r + 0.00019841269863040545;
    p = p * r + 0.0013888888917196719;
    p = p * r + 0.008333333333330065;
    p = p * r + 0.041666666666624164;
    p = p * r + 0.16666666666666669;
    p = p * r + 0.5000000000000001;
    p = p * r + 1.0;
    p = p * r + 1.0;
    int64_t t_bits, s_bits, scale_bits;
    double s = shifter, scale;
    memcpy(&t_bits, &t, sizeof t);
    memcpy(&s_bits, &s, sizeof s);
    scale_bits = (t_bits - s_bits + 1023) * ((int64_t)1 << 52); /* 2^k, k in [−1022, 0] */
    memcpy(&scale, &scale_bits, sizeof scale);
    /* d − d is 0, or NaN for a NaN d, which the sum then carries to the caller */
    return d < -708.0 ? 0.0 : p * scale + (d - d);
}

/* Rows per group: up to GROUP_MAX, fewer when C is large, so that a group's copy stays near
 * GROUP_BYTES (it is read twice; the copy also stops a power-of-two batch stride, such as
 * 32768 rows, from mapping every class's values onto the same cache sets). */
#define GROUP_MAX 256
#define GROUP_MIN 16
#define GROUP_BYTES (256 * 1024)

static Py_ssize_t group_rows(Py_ssize_t n_classes, size_t itemsize) {
    Py_ssize_t rows = (Py_ssize_t)(GROUP_BYTES / itemsize) / n_classes;
    rows = rows < GROUP_MIN ? GROUP_MIN : (rows > GROUP_MAX ? GROUP_MAX : rows);
    return rows - rows % GROUP_MIN;
}

/* Ask for the next group's part of a class's values while this group's is read: each class
 * is its own stream, more than the hardware prefetcher follows. */
#if defined(__GNUC__)
#define PREFETCH_NEXT(row, n, group, left, T)                                                  \
    if ((left) > (group))                                                                      \
        for (Py_ssize_t j = 0; j < (n); j += 64 / (Py_ssize_t)sizeof(T))                       \
            __builtin_prefetch((row) + (group) + j);
#else
#define PREFETCH_NEXT(row, n, group, left, T)
#endif

/* A group's pass 1: each row's maximum t[i] and first argmax a[i] on the input type, the
 * group's values copied class by class into `copy` (C × group) on the way. */
#define DEFINE_GROUP_MAX(NAME, T)                                                              \
    static inline void NAME(const T *x0, Py_ssize_t ld, Py_ssize_t n_classes, Py_ssize_t n,   \
                            Py_ssize_t group, Py_ssize_t left, T *copy, T *t, int32_t *a) {   \
        for (Py_ssize_t i = 0; i < n; i++) {                                                   \
            t[i] = copy[i] = x0[i];                                                            \
            a[i] = 0;                                                                          \
        }                                                                                      \
        for (Py_ssize_t c = 1; c < n_classes; c++) {                                           \
            const T *row = x0 + c * ld;                                                        \
            T *dst = copy + c * group;                                                         \
            PREFETCH_NEXT(row, n, group, left, T);                                             \
            for (Py_ssize_t i = 0; i < n; i++) {                                               \
                const T v = dst[i] = row[i];                                                   \
                const int above = v > t[i];                                                    \
                t[i] = above ? v : t[i];                                                       \
                a[i] = above ? (int32_t)c : a[i];                                              \
            }                                                                                  \
        }                                                                                      \
    }

DEFINE_GROUP_MAX(group_max_f32, float)
DEFINE_GROUP_MAX(group_max_f64, double)

#define DEFINE_CE_BLOCK(NAME, T, GROUP_MAX_OF)                                                 \
    CE_CLONES static int NAME(const T *x, Py_ssize_t ld, Py_ssize_t n_classes, Py_ssize_t m,  \
                              const int64_t *target, double inv_t, double *top,               \
                              double *picked, int64_t *argmax, double *sums, T *copy,         \
                              Py_ssize_t group) {                                             \
        T t[GROUP_MAX];                                                                        \
        int32_t a[GROUP_MAX];                                                                  \
        double s[GROUP_MAX];                                                                   \
        int finite = 1;                                                                        \
        for (Py_ssize_t start = 0; start < m; start += group) {                                \
            const Py_ssize_t n = m - start < group ? m - start : group;                        \
            GROUP_MAX_OF(x + start, ld, n_classes, n, group, m - start, copy, t, a);           \
            for (Py_ssize_t i = 0; i < n; i++) s[i] = 0.0;                                     \
            for (Py_ssize_t c = 0; c < n_classes; c++) {                                       \
                const T *row = copy + c * group;                                               \
                for (Py_ssize_t i = 0; i < n; i++)                                             \
                    s[i] += exp_nonpositive(((double)row[i] - (double)t[i]) * inv_t);          \
            }                                                                                  \
            for (Py_ssize_t i = 0; i < n; i++) {                                               \
                top[start + i] = (double)t[i];                                                 \
                argmax[start + i] = a[i];                                                      \
                picked[start + i] = (double)copy[target[start + i] * group + i];               \
                sums[start + i] = s[i];                                                        \
                finite &= (s[i] - s[i] == 0.0);                                                \
            }                                                                                  \
        }                                                                                      \
        return finite;                                                                         \
    }

DEFINE_CE_BLOCK(ce_block_f32, float, group_max_f32)
DEFINE_CE_BLOCK(ce_block_f64, double, group_max_f64)

/* The same values for a row-major block: row r's C values contiguous at x + r·ld (a C-ordered
 * batch, as a fixed-size-list column gives), one row at a time, in chunks of ROW_CHUNK classes:
 * position i of every chunk keeps its first maximum (the positions then give the least index
 * among those equal to the row's maximum), and a chunk's exponentials go through a buffer into
 * ROW_CHUNK partial sums, so that both passes vectorise. */
#define ROW_CHUNK 64

#define DEFINE_CE_ROWS(NAME, T)                                                                \
    CE_CLONES static int NAME(const T *x, Py_ssize_t ld, Py_ssize_t n_classes, Py_ssize_t m,  \
                              const int64_t *target, double inv_t, double *top,               \
                              double *picked, int64_t *argmax, double *sums) {                \
        int finite = 1;                                                                        \
        T best[ROW_CHUNK];                                                                     \
        int32_t at[ROW_CHUNK];                                                                 \
        double acc[ROW_CHUNK], buf[ROW_CHUNK];                                                 \
        for (Py_ssize_t r = 0; r < m; r++) {                                                   \
            const T *row = x + r * ld;                                                         \
            for (int i = 0; i < ROW_CHUNK; i++) {                                              \
                best[i] = (T)-INFINITY;                                                        \
                at[i] = (int32_t)n_classes;                                                    \
                acc[i] = 0.0;                                                                  \
            }                                                                                  \
            for (Py_ssize_t c0 = 0; c0 < n_classes; c0 += ROW_CHUNK) {                         \
                const Py_ssize_t n = n_classes - c0 < ROW_CHUNK ? n_classes - c0 : ROW_CHUNK;  \
                for (Py_ssize_t i = 0; i < n; i++) {                                           \
                    const T v = row[c0 + i];                                                   \
                    const int above = v > best[i];                                             \
                    best[i] = above ? v : best[i];                                             \
                    at[i] = above ? (int32_t)(c0 + i) : at[i];                                 \
                }                                                                              \
            }                                                                                  \
            T t = best[0];                                                                     \
            int32_t a = at[0];                                                                 \
            for (int i = 1; i < ROW_CHUNK; i++)                                                \
                if (best[i] > t || (best[i] == t && at[i] < a)) {                              \
                    t = best[i];                                                               \
                    a = at[i];                                                                 \
                }                                                                              \
            const double t64 = (double)t;                                                      \
            for (Py_ssize_t c0 = 0; c0 < n_classes; c0 += ROW_CHUNK) {                         \
                const Py_ssize_t n = n_classes - c0 < ROW_CHUNK ? n_classes - c0 : ROW_CHUNK;  \
                for (Py_ssize_t i = 0; i < n; i++)                                             \
                    buf[i] = exp_nonpositive(((double)row[c0 + i] - t64) * inv_t);             \
                for (Py_ssize_t i = 0; i < n; i++) acc[i] += buf[i];                           \
            }                                                                                  \
            double total = 0.0;                                                                \
            for (int i = 0; i < ROW_CHUNK; i++) total += acc[i];                               \
            top[r] = t64;                                                                      \
            argmax[r] = a;                                                                     \
            picked[r] = (double)row[target[r]];                                                \
            sums[r] = total;                                                                   \
            finite &= (total - total == 0.0);                                                  \
        }                                                                                      \
        return finite;                                                                         \
    }

DEFINE_CE_ROWS(ce_rows_f32, float)
DEFINE_CE_ROWS(ce_rows_f64, double)

/* --- argument checking: buffers from numpy arrays, shapes and types as documented above --- */

static int is_format(const Py_buffer *view, const char *allowed, Py_ssize_t itemsize) {
    const char *f = view->format ? view->format : "B";
    if (*f == '@' || *f == '=' || *f == '<') f++; /* native or little-endian */
    return view->itemsize == itemsize && f[0] != '\0' && f[1] == '\0' && strchr(allowed, f[0]);
}

static int vector_arg(PyObject *obj, Py_buffer *view, int writable, const char *allowed,
                      Py_ssize_t m, const char *name) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) return -1;
    if (view->ndim != 1 || view->shape[0] != m || !is_format(view, allowed, 8)) {
        PyErr_Format(PyExc_ValueError, "%s must be a contiguous 8-byte array of %zd values",
                     name, m);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* x: a float32 or float64 block (C, m) with each class's values contiguous or, when
 * `row_major` allows it, each row's. Sets *f32, *by_class and *ld (the other axis's stride in
 * elements); 0, or −1 with an exception set and the view released. */
static int block_arg(PyObject *obj, Py_buffer *x, int row_major, int *f32, int *by_class,
                     Py_ssize_t *ld) {
    if (PyObject_GetBuffer(obj, x, PyBUF_STRIDES | PyBUF_FORMAT) < 0) return -1;
    *f32 = is_format(x, "f", 4);
    *by_class = x->ndim == 2 && x->strides[1] == x->itemsize;
    const int by_row = row_major && x->ndim == 2 && x->strides[0] == x->itemsize;
    const Py_ssize_t stride = x->ndim == 2 ? x->strides[*by_class ? 0 : 1] : -1;
    if (x->ndim != 2 || !(*f32 || is_format(x, "d", 8)) || !(*by_class || by_row) ||
        stride < 0 || stride % x->itemsize != 0 || x->shape[0] < 1 || x->shape[0] > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError,
                        row_major ? "x must be a float32 or float64 (C, m) block with each "
                                    "class's or each row's values contiguous"
                                  : "x must be a float32 or float64 (C, m) block with each "
                                    "class's values contiguous");
        PyBuffer_Release(x);
        return -1;
    }
    *ld = stride / x->itemsize;
    return 0;
}

/* 0 when every target is a class index below n_classes, else −1 with a ValueError. */
static int targets_arg(const int64_t *target, Py_ssize_t m, Py_ssize_t n_classes) {
    for (Py_ssize_t i = 0; i < m; i++)
        if (target[i] < 0 || target[i] >= n_classes) {
            PyErr_Format(PyExc_ValueError, "target[%zd] = %lld is not a class index below %zd",
                         i, (long long)target[i], n_classes);
            return -1;
        }
    return 0;
}

static PyObject *ce_block(PyObject *self, PyObject *args) {
    PyObject *x_obj, *target_obj, *top_obj, *picked_obj, *argmax_obj, *sums_obj;
    double inv_t;
    if (!PyArg_ParseTuple(args, "OOdOOOO:ce_block", &x_obj, &target_obj, &inv_t, &top_obj,
                          &picked_obj, &argmax_obj, &sums_obj))
        return NULL;
    Py_buffer x, target, top, picked, argmax, sums;
    int f32, by_class;
    Py_ssize_t ld;
    if (block_arg(x_obj, &x, 1, &f32, &by_class, &ld) < 0) return NULL;
    const Py_ssize_t n_classes = x.shape[0], m = x.shape[1];
    Py_buffer *views[] = {&target, &top, &picked, &argmax, &sums};
    PyObject *objs[] = {target_obj, top_obj, picked_obj, argmax_obj, sums_obj};
    const char *names[] = {"target", "top", "picked", "argmax", "sums"};
    const char *kinds[] = {"lq", "d", "d", "lq", "d"};
    int got = 0;
    for (; got < 5; got++)
        if (vector_arg(objs[got], views[got], got > 0, kinds[got], m, names[got]) < 0) break;
    PyObject *result = NULL;
    void *copy = NULL; /* the class-major kernel's group copy */
    const int64_t *t = got == 5 ? (const int64_t *)target.buf : NULL;
    if (got < 5 || targets_arg(t, m, n_classes) < 0) goto done;
    const Py_ssize_t group = group_rows(n_classes, (size_t)x.itemsize);
    if (by_class && (copy = PyMem_RawMalloc((size_t)(group * n_classes * x.itemsize))) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    double *tp = (double *)top.buf, *pk = (double *)picked.buf, *sm = (double *)sums.buf;
    int64_t *am = (int64_t *)argmax.buf;
    int finite;
    Py_BEGIN_ALLOW_THREADS;
    if (by_class && f32)
        finite = ce_block_f32(x.buf, ld, n_classes, m, t, inv_t, tp, pk, am, sm, copy, group);
    else if (by_class)
        finite = ce_block_f64(x.buf, ld, n_classes, m, t, inv_t, tp, pk, am, sm, copy, group);
    else if (f32)
        finite = ce_rows_f32(x.buf, ld, n_classes, m, t, inv_t, tp, pk, am, sm);
    else
        finite = ce_rows_f64(x.buf, ld, n_classes, m, t, inv_t, tp, pk, am, sm);
    Py_END_ALLOW_THREADS;
    result = PyBool_FromLong(finite);
done:
    PyMem_RawFree(copy);
    for (int i = 0; i < got; i++) PyBuffer_Release(views[i]);
    PyBuffer_Release(&x);
    return result;
}

/* --- exp_moments: the temperature fit's exponentials and moments of a block ---------------- */

#define DEFINE_EXP_MOMENTS(NAME, T, K, GROUP_MAX_OF)                                           \
    CE_CLONES static void NAME(const T *x, Py_ssize_t ld, Py_ssize_t n_classes, Py_ssize_t m, \
                               const int64_t *target, double beta, double *e, double *s,      \
                               double *sumsq, double *picked, Py_ssize_t picked_ld,           \
                               double *top, int64_t *argmax, double *mom, Py_ssize_t mom_ld,  \
                               T *copy, Py_ssize_t group) {                                   \
        T t[GROUP_MAX];                                                                        \
        int32_t a[GROUP_MAX];                                                                  \
        double s_[GROUP_MAX], q_[GROUP_MAX], m1[GROUP_MAX], m2[GROUP_MAX], m3[GROUP_MAX],     \
            m4[GROUP_MAX];                                                                     \
        for (Py_ssize_t start = 0; start < m; start += group) {                                \
            const Py_ssize_t n = m - start < group ? m - start : group;                        \
            GROUP_MAX_OF(x + start, ld, n_classes, n, group, m - start, copy, t, a);           \
            for (Py_ssize_t i = 0; i < n; i++)                                                 \
                s_[i] = q_[i] = m1[i] = m2[i] = m3[i] = m4[i] = 0.0;                           \
            for (Py_ssize_t c = 0; c < n_classes; c++) {                                       \
                const T *row = copy + c * group;                                               \
                double *er = e + c * m + start;                                                \
                for (Py_ssize_t i = 0; i < n; i++) {                                           \
                    const double dv = (double)row[i] - (double)t[i];                           \
                    const double ev = exp_nonpositive(dv * beta);                              \
                    er[i] = ev;                                                                \
                    s_[i] += ev;                                                               \
                    q_[i] += ev * ev;                                                          \
                    if (K >= 2) {                                                              \
                        const double e1 = ev * dv, e2 = e1 * dv;                               \
                        m1[i] += e1;                                                           \
                        m2[i] += e2;                                                           \
                        if (K == 4) {                                                          \
                            const double e3 = e2 * dv;                                         \
                            m3[i] += e3;                                                       \
                            m4[i] += e3 * dv;                                                  \
                        }                                                                      \
                    }                                                                          \
                }                                                                              \
            }                                                                                  \
            for (Py_ssize_t i = 0; i < n; i++) {                                               \
                const int64_t y = target[start + i];                                           \
                const double x_y = (double)copy[y * group + i];                                \
                picked[start + i] = x_y;                                                       \
                picked[picked_ld + start + i] = e[y * m + start + i];                          \
                picked[2 * picked_ld + start + i] = x_y - (double)t[i];                        \
                top[start + i] = (double)t[i];                                                 \
                argmax[start + i] = a[i];                                                      \
                s[start + i] = s_[i];                                                          \
                sumsq[start + i] = q_[i];                                                      \
                if (K >= 2) {                                                                  \
                    mom[start + i] = m1[i] / s_[i];                                            \
                    mom[mom_ld + start + i] = m2[i] / s_[i];                                   \
                }                                                                              \
                if (K == 4) {                                                                  \
                    mom[2 * mom_ld + start + i] = m3[i] / s_[i];                               \
                    mom[3 * mom_ld + start + i] = m4[i] / s_[i];                               \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    }

DEFINE_EXP_MOMENTS(exp_moments_f32_0, float, 0, group_max_f32)
DEFINE_EXP_MOMENTS(exp_moments_f32_2, float, 2, group_max_f32)
DEFINE_EXP_MOMENTS(exp_moments_f32_4, float, 4, group_max_f32)
DEFINE_EXP_MOMENTS(exp_moments_f64_0, double, 0, group_max_f64)
DEFINE_EXP_MOMENTS(exp_moments_f64_2, double, 2, group_max_f64)
DEFINE_EXP_MOMENTS(exp_moments_f64_4, double, 4, group_max_f64)

/* A float64 output of `rows` × `cols` whose rows are contiguous (any row stride): its row
 * stride in elements, or −1 with an exception set and the view released. */
static Py_ssize_t matrix_arg(PyObject *obj, Py_buffer *view, Py_ssize_t rows, Py_ssize_t cols,
                             int c_contiguous, const char *name) {
    if (PyObject_GetBuffer(obj, view, PyBUF_STRIDES | PyBUF_FORMAT | PyBUF_WRITABLE) < 0)
        return -1;
    if (view->ndim != 2 || view->shape[0] != rows || view->shape[1] != cols ||
        !is_format(view, "d", 8) || view->strides[1] != 8 || view->strides[0] < 0 ||
        view->strides[0] % 8 != 0 || (c_contiguous && view->strides[0] != 8 * cols)) {
        PyErr_Format(PyExc_ValueError, "%s must be a float64 (%zd, %zd) array%s", name, rows,
                     cols, c_contiguous ? ", C-contiguous" : " with contiguous rows");
        PyBuffer_Release(view);
        return -1;
    }
    return view->strides[0] / 8;
}

static PyObject *exp_moments(PyObject *self, PyObject *args) {
    PyObject *x_obj, *target_obj, *e_obj, *s_obj, *sumsq_obj, *picked_obj, *top_obj, *argmax_obj,
        *mom_obj;
    double beta;
    if (!PyArg_ParseTuple(args, "OOdOOOOOOO:exp_moments", &x_obj, &target_obj, &beta, &e_obj,
                          &s_obj, &sumsq_obj, &picked_obj, &top_obj, &argmax_obj, &mom_obj))
        return NULL;
    Py_buffer x, views[8];
    int got = 0;
    PyObject *result = NULL;
    void *copy = NULL;
    int f32, by_class;
    Py_ssize_t ld;
    if (block_arg(x_obj, &x, 0, &f32, &by_class, &ld) < 0) return NULL;
    const Py_ssize_t n_classes = x.shape[0], m = x.shape[1];
    Py_ssize_t k = 0, picked_ld, mom_ld = 0;
    if (vector_arg(target_obj, &views[got], 0, "lq", m, "target") < 0) goto done;
    got++;
    if (matrix_arg(e_obj, &views[got], n_classes, m, 1, "e") < 0) goto done;
    got++;
    if (vector_arg(s_obj, &views[got], 1, "d", m, "s") < 0) goto done;
    got++;
    if (vector_arg(sumsq_obj, &views[got], 1, "d", m, "sumsq") < 0) goto done;
    got++;
    if ((picked_ld = matrix_arg(picked_obj, &views[got], 3, m, 0, "picked")) < 0) goto done;
    got++;
    if (vector_arg(top_obj, &views[got], 1, "d", m, "top") < 0) goto done;
    got++;
    if (vector_arg(argmax_obj, &views[got], 1, "lq", m, "argmax") < 0) goto done;
    got++;
    if (mom_obj != Py_None) {
        Py_ssize_t rows = PyObject_Length(mom_obj);
        if (rows != 2 && rows != 4) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "moments must have 2 or 4 rows, or be None");
            goto done;
        }
        if ((mom_ld = matrix_arg(mom_obj, &views[got], rows, m, 0, "moments")) < 0) goto done;
        got++;
        k = rows;
    }
    const int64_t *target = (const int64_t *)views[0].buf;
    if (targets_arg(target, m, n_classes) < 0) goto done;
    const Py_ssize_t group = group_rows(n_classes, (size_t)x.itemsize);
    if ((copy = PyMem_RawMalloc((size_t)(group * n_classes * x.itemsize))) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    double *out[8];
    for (int i = 1; i < got; i++) out[i] = (double *)views[i].buf;
    int64_t *argmax = (int64_t *)views[6].buf;
    double *mom = k ? out[7] : NULL;
    Py_BEGIN_ALLOW_THREADS;
#define CALL(F, T)                                                                             \
    F((const T *)x.buf, ld, n_classes, m, target, beta, out[1], out[2], out[3], out[4],        \
      picked_ld, out[5], argmax, mom, mom_ld, (T *)copy, group)
    if (f32)
        k == 0   ? CALL(exp_moments_f32_0, float)
        : k == 2 ? CALL(exp_moments_f32_2, float)
                 : CALL(exp_moments_f32_4, float);
    else
        k == 0   ? CALL(exp_moments_f64_0, double)
        : k == 2 ? CALL(exp_moments_f64_2, double)
                 : CALL(exp_moments_f64_4, double);
#undef CALL
    Py_END_ALLOW_THREADS;
    result = Py_NewRef(Py_None);
done:
    PyMem_RawFree(copy);
    for (int i = 0; i < got; i++) PyBuffer_Release(&views[i]);
    PyBuffer_Release(&x);
    return result;
}

/* --- candidates: the classwise bins' candidates of a block, and the rest of bin 0 ----------- */

#define LANES 8

/* Σ v in LANES partial sums (vectorised without reordering by the compiler), fixed order. */
static inline double sum_lanes(const double *v, Py_ssize_t n) {
    double acc[LANES] = {0}, total = 0.0;
    Py_ssize_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += v[i + l];
    for (; i < n; i++) acc[0] += v[i];
    for (int l = 0; l < LANES; l++) total += acc[l];
    return total;
}

/* mask[c·m + i] = e[c, i] ≥ min(s[i]·edge, 1): the entries whose q = e/s can reach the first
 * bin edge (edge lies a little below it, so this is a superset; each row's maximum, e = 1, is
 * in it). The others are added per class: rest_conf[c] += Σ e·winv, and rest_weight[c] += Σ w
 * when w is given. */
CE_CLONES static void candidates_block(const double *e, Py_ssize_t n_classes, Py_ssize_t m,
                                       const double *s, double edge, const double *winv,
                                       const double *w, unsigned char *mask, double *rest_conf,
                                       double *rest_weight) {
    double thr[GROUP_MAX], rest[GROUP_MAX];
    for (Py_ssize_t start = 0; start < m; start += GROUP_MAX) {
        const Py_ssize_t n = m - start < GROUP_MAX ? m - start : GROUP_MAX;
        for (Py_ssize_t i = 0; i < n; i++) {
            const double t = s[start + i] * edge;
            thr[i] = t < 1.0 ? t : 1.0;
        }
        const double *wv = winv + start;
        for (Py_ssize_t c = 0; c < n_classes; c++) {
            const double *er = e + c * m + start;
            unsigned char *mr = mask + c * m + start;
            for (Py_ssize_t i = 0; i < n; i++) {
                const int in = er[i] >= thr[i];
                mr[i] = (unsigned char)in;
                rest[i] = in ? 0.0 : er[i] * wv[i];
            }
            rest_conf[c] += sum_lanes(rest, n);
            if (w != NULL) {
                for (Py_ssize_t i = 0; i < n; i++) rest[i] = mr[i] ? 0.0 : w[start + i];
                rest_weight[c] += sum_lanes(rest, n);
            }
        }
    }
}

static PyObject *candidates(PyObject *self, PyObject *args) {
    PyObject *e_obj, *s_obj, *winv_obj, *w_obj, *mask_obj, *conf_obj, *weight_obj;
    double edge;
    if (!PyArg_ParseTuple(args, "OOdOOOOO:candidates", &e_obj, &s_obj, &edge, &winv_obj, &w_obj,
                          &mask_obj, &conf_obj, &weight_obj))
        return NULL;
    Py_buffer e, views[6];
    int got = 0;
    PyObject *result = NULL;
    if (PyObject_GetBuffer(e_obj, &e, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return NULL;
    if (e.ndim != 2 || !is_format(&e, "d", 8)) {
        PyErr_SetString(PyExc_ValueError, "e must be a C-contiguous float64 (C, m) array");
        goto done;
    }
    const Py_ssize_t n_classes = e.shape[0], m = e.shape[1];
    const int weighted = w_obj != Py_None;
    if (vector_arg(s_obj, &views[got], 0, "d", m, "s") < 0) goto done;
    got++;
    if (vector_arg(winv_obj, &views[got], 0, "d", m, "winv") < 0) goto done;
    got++;
    if (weighted) {
        if (vector_arg(w_obj, &views[got], 0, "d", m, "w") < 0) goto done;
        got++;
    }
    if (PyObject_GetBuffer(mask_obj, &views[got], PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE |
                                                       PyBUF_FORMAT) < 0)
        goto done;
    got++;
    if (views[got - 1].ndim != 1 || views[got - 1].shape[0] < n_classes * m ||
        !is_format(&views[got - 1], "?B", 1)) {
        PyErr_SetString(PyExc_ValueError, "mask must be a bool array of at least C·m values");
        goto done;
    }
    unsigned char *mask = (unsigned char *)views[got - 1].buf;
    if (vector_arg(conf_obj, &views[got], 1, "d", n_classes, "rest_conf") < 0) goto done;
    got++;
    double *conf = (double *)views[got - 1].buf, *weight = NULL;
    if (weighted) {
        if (vector_arg(weight_obj, &views[got], 1, "d", n_classes, "rest_weight") < 0) goto done;
        got++;
        weight = (double *)views[got - 1].buf;
    }
    const double *sv = (const double *)views[0].buf, *winv = (const double *)views[1].buf;
    const double *w = weighted ? (const double *)views[2].buf : NULL;
    Py_BEGIN_ALLOW_THREADS;
    candidates_block((const double *)e.buf, n_classes, m, sv, edge, winv, w, mask, conf, weight);
    Py_END_ALLOW_THREADS;
    result = Py_NewRef(Py_None);
done:
    for (int i = 0; i < got; i++) PyBuffer_Release(&views[i]);
    PyBuffer_Release(&e);
    return result;
}

static PyObject *exp_nonpositive_py(PyObject *self, PyObject *arg) {
    double d = PyFloat_AsDouble(arg);
    if (d == -1.0 && PyErr_Occurred()) return NULL;
    return PyFloat_FromDouble(exp_nonpositive(d));
}

static PyMethodDef methods[] = {
    {"ce_block", ce_block, METH_VARARGS,
     "ce_block(x, target, inv_t, top, picked, argmax, sums) -> bool: see _native.c."},
    {"exp_moments", exp_moments, METH_VARARGS,
     "exp_moments(x, target, beta, e, s, sumsq, picked, top, argmax, moments) -> None: see "
     "_native.c."},
    {"candidates", candidates, METH_VARARGS,
     "candidates(e, s, edge, winv, w, mask, rest_conf, rest_weight) -> None: see _native.c."},
    {"exp_nonpositive", exp_nonpositive_py, METH_O,
     "exp(d) for d <= 0 as ce_block computes it (for tests)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_native", "ce's compiled cross-entropy kernel (see _native.c).",
    -1, methods,
};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
