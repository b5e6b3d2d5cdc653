// edgeserve's OpenCL kernels. Every size is an argument, so one built program serves every
// model and batch size. One work item computes one output element unless a kernel says
// otherwise; `n` is the number of work items and guards the tail.

#define MAX_RANK 6

// Offset of element `i` of an output of shape m[1..rank] in operand `which` (0 or 1), whose
// strides are m[1 + MAX_RANK * (which + 1) ..]; broadcast axes have stride 0.
inline int index_offset(int i, __constant const int* m, int which) {
    int rank = m[0];
    int off = 0;
    for (int d = rank - 1; d >= 0; --d) {
        int dim = m[1 + d];
        off += (i % dim) * m[1 + MAX_RANK * (which + 1) + d];
        i /= dim;
    }
    return off;
}

__kernel void unary_f32(__global const float* x, __global float* y, int op, float a, float b,
                        int n) {
    int i = get_global_id(0);
    if (i >= n) return;
    float v = x[i];
    switch (op) {
        case 1: v = v > 0.0f ? v : 0.0f; break;                  // Relu
        case 2: v = v >= 0.0f ? v : a * v; break;                // LeakyRelu
        case 3: v = 1.0f / (1.0f + exp(-v)); break;              // Sigmoid
        case 4: v = tanh(v); break;                              // Tanh
        case 5: v = fmin(fmax(v, a), b); break;                  // Clip
        case 6: v = exp(v); break;                               // Exp
        case 7: v = log(v); break;                               // Ln
        case 8: v = sqrt(v); break;                              // Sqrt
        case 9: v = rsqrt(v); break;                             // Rsqrt
        case 10: v = 1.0f / v; break;                            // Recip
        case 11: v = fabs(v); break;                             // Abs
        case 12: v = -v; break;                                  // Neg
        case 13: v = v * v; break;                               // Square
        case 14: v = v * fmin(fmax(v / 6.0f + 0.5f, 0.0f), 1.0f); break; // HardSwish
        case 15: v = erf(v); break;                              // Erf
        case 16: v = floor(v); break;                            // Floor
        case 17: v = ceil(v); break;                             // Ceil
        case 18: v = sin(v); break;                              // Sin
        case 19: v = cos(v); break;                              // Cos
        case 20: v = fmin(fmax(a * v + b, 0.0f), 1.0f); break;   // HardSigmoid
        case 21: v = 0.5f * v * (1.0f + erf(v * 0.70710678118654752f)); break; // Gelu
        case 22: v = v / (1.0f + exp(-v)); break;                // Silu
        case 24: v = (a == rint(a)) ? pown(v, (int)a) : pow(v, a); break; // PowConst
        default: break;                                          // Identity
    }
    y[i] = v;
}

#define BINARY(T, NAME, DIV, POW)                                                                   \
__kernel void NAME(__global const T* a, __global const T* b, __global T* y,                    \
                   __constant const int* m, int op, int n) {                                   \
    int i = get_global_id(0);                                                                  \
    if (i >= n) return;                                                                        \
    T p = a[index_offset(i, m, 0)];                                                            \
    T q = b[index_offset(i, m, 1)];                                                            \
    T r;                                                                                       \
    switch (op) {                                                                              \
        case 0: r = p + q; break;                                                              \
        case 1: r = p - q; break;                                                              \
        case 2: r = p * q; break;                                                              \
        case 4: r = p > q ? p : q; break;                                                      \
        case 5: r = p < q ? p : q; break;                                                      \
        case 6: r = POW; break;                                                                \
        default: r = DIV; break;                                                               \
    }                                                                                          \
    y[i] = r;                                                                                  \
}
BINARY(float, binary_f32, p / q, pow(p, q))
// Integer division by zero would trap on CPU devices: it yields 0 instead.
BINARY(long, binary_i64, (q == 0 ? 0 : p / q), 0)

__kernel void cast_i64_f32(__global const long* x, __global float* y, int n) {
    int i = get_global_id(0);
    if (i >= n) return;
    y[i] = (float)x[i];
}

__kernel void cast_f32_i64(__global const float* x, __global long* y, int n) {
    int i = get_global_id(0);
    if (i >= n) return;
    float v = x[i];
    y[i] = isnan(v) ? 0 : (long)v;
}

// y[i] = x[offset of i under the strides in m]: Transpose (and any strided view).

// Copies one Concat input, viewed as [outer, in_len], into [outer, out_len] at `offset`.
#define CONCAT_PART(T, NAME)                                                                   \
__kernel void NAME(__global const T* x, __global T* y, int in_len, int out_len, int offset,   \
                   int n) {                                                                    \
    int i = get_global_id(0);                                                                  \
    if (i >= n) return;                                                                        \
    y[(i / in_len) * out_len + offset + i % in_len] = x[i];                                    \
}
CONCAT_PART(float, concat_part_f32)
CONCAT_PART(long, concat_part_i64)

// Gather along an axis: data [outer, axis_len, inner], indices [nidx] -> [outer, nidx, inner].
// An index out of range sets the status word, which the host turns into an error.
#define GATHER(T, NAME)                                                                        \
__kernel void NAME(__global const T* data, __global const long* idx, __global T* y,           \
                   __global int* status, int axis_len, int inner, int nidx, int n) {           \
    int i = get_global_id(0);                                                                  \
    if (i >= n) return;                                                                        \
    int in = i % inner;                                                                        \
    int t = i / inner;                                                                         \
    long k = idx[t % nidx];                                                                    \
    int o = t / nidx;                                                                          \
    if (k < 0) k += axis_len;                                                                  \
    if (k < 0 || k >= axis_len) {                                                              \
        status[0] = 1;                                                                         \
        y[i] = 0;                                                                              \
        return;                                                                                \
    }                                                                                          \
    y[i] = data[((long)o * axis_len + k) * inner + in];                                        \
}
GATHER(float, gather_f32)
GATHER(long, gather_i64)

// NCHW convolution with groups, strides, dilations and padding; bias and ReLU fused.
// m: N C H W M OH OW KH KW sh sw ph pw dh dw groups has_bias relu
__kernel void conv2d(__global const float* X, __global const float* Wt, __global const float* Bs,
                     __global float* Y, __constant const int* m, int n) {
    int i = get_global_id(0);
    if (i >= n) return;
    int C = m[1], H = m[2], W = m[3], M = m[4], OH = m[5], OW = m[6], KH = m[7], KW = m[8];
    int sh = m[9], sw = m[10], ph = m[11], pw = m[12], dh = m[13], dw = m[14], G = m[15];
    int ow = i % OW;
    int t = i / OW;
    int oh = t % OH;
    t /= OH;
    int oc = t % M;
    int b = t / M;
    int cpg = C / G;
    int g = oc / (M / G);
    float acc = m[16] ? Bs[oc] : 0.0f;
    for (int ic = 0; ic < cpg; ++ic) {
        __global const float* x = X + ((b * C + g * cpg + ic) * H) * W;
        __global const float* w = Wt + ((oc * cpg + ic) * KH) * KW;
        for (int kh = 0; kh < KH; ++kh) {
            int ih = oh * sh - ph + kh * dh;
            if (ih < 0 || ih >= H) continue;
            for (int kw = 0; kw < KW; ++kw) {
                int iw = ow * sw - pw + kw * dw;
                if (iw < 0 || iw >= W) continue;
                acc = fma(x[ih * W + iw], w[kh * KW + kw], acc);
            }
        }
    }
    if (m[17]) acc = acc > 0.0f ? acc : 0.0f;
    Y[i] = acc;
}

// m: NC H W OH OW KH KW sh sw pt pl pb pr dh dw count_include_pad
__kernel void maxpool2d(__global const float* X, __global float* Y, __constant const int* m,
                        int n) {
    int i = get_global_id(0);
    if (i >= n) return;
    int H = m[1], W = m[2], OH = m[3], OW = m[4], KH = m[5], KW = m[6];
    int ow = i % OW;
    int oh = (i / OW) % OH;
    int nc = i / (OW * OH);
    __global const float* x = X + nc * H * W;
    float best = -INFINITY;
    for (int kh = 0; kh < KH; ++kh) {
        int ih = oh * m[7] - m[9] + kh * m[13];
        if (ih < 0 || ih >= H) continue;
        for (int kw = 0; kw < KW; ++kw) {
            int iw = ow * m[8] - m[10] + kw * m[14];
            if (iw < 0 || iw >= W) continue;
            best = fmax(best, x[ih * W + iw]);
        }
    }
    Y[i] = best;
}

__kernel void avgpool2d(__global const float* X, __global float* Y, __constant const int* m,
                        int n) {
    int i = get_global_id(0);
    if (i >= n) return;
    int H = m[1], W = m[2], OH = m[3], OW = m[4], KH = m[5], KW = m[6];
    int pt = m[9], pl = m[10], pb = m[11], pr = m[12];
    int ow = i % OW;
    int oh = (i / OW) % OH;
    int nc = i / (OW * OH);
    __global const float* x = X + nc * H * W;
    float sum = 0.0f;
    int count = 0;
    for (int kh = 0; kh < KH; ++kh) {
        int ih = oh * m[7] - pt + kh * m[13];
        for (int kw = 0; kw < KW; ++kw) {
            int iw = ow * m[8] - pl + kw * m[14];
            int inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
            if (inside) sum += x[ih * W + iw];
            if (inside || (m[15] && ih >= -pt && ih < H + pb && iw >= -pl && iw < W + pr)) count++;
        }
    }
    Y[i] = count > 0 ? sum / (float)count : 0.0f;
}

// y = (x - mean) / sqrt(var + eps) * scale + bias, per channel of [N, C, inner].

// [outer, len, inner] -> [outer, inner]: the mean over the middle axis.

// Softmax over the middle axis of [outer, len, inner]; one work item per (outer, inner).
__kernel void softmax(__global const float* x, __global float* y, int len, int inner, int n) {
    int i = get_global_id(0);
    if (i >= n) return;
    int base = (i / inner) * len * inner + i % inner;
    float mx = -INFINITY;
    for (int l = 0; l < len; ++l) mx = fmax(mx, x[base + l * inner]);
    float sum = 0.0f;
    for (int l = 0; l < len; ++l) sum += exp(x[base + l * inner] - mx);
    for (int l = 0; l < len; ++l) y[base + l * inner] = exp(x[base + l * inner] - mx) / sum;
}

// One work item per row walks every tree, sums leaf weights per class, applies the post
// transform (0 none, 1 softmax, 2 logistic) and picks the label of the highest score.

// y[i] = x[offset + offset of i under the strides in m]: a strided view of x (axis moves,
// slices, strided slices, broadcasts: strides may be 0 or negative).
#define VIEW(T, NAME)                                                                          \
__kernel void NAME(__global const T* x, __global T* y, __constant const int* m, int offset,    \
                   int n) {                                                                    \
    int i = get_global_id(0);                                                                  \
    if (i >= n) return;                                                                        \
    y[i] = x[offset + index_offset(i, m, 0)];                                                  \
}
VIEW(float, view_f32)
VIEW(long, view_i64)

// [outer, len, inner] -> [outer, inner]: op 0 sum, 1 max, 2 min, 3 product, 4 mean of squares.
__kernel void reduce_f32(__global const float* x, __global float* y, int len, int inner, int op,
                         int n) {
    int i = get_global_id(0);
    if (i >= n) return;
    __global const float* p = x + (i / inner) * len * inner + i % inner;
    float acc = op == 1 ? -INFINITY : (op == 2 ? INFINITY : (op == 3 ? 1.0f : 0.0f));
    for (int l = 0; l < len; ++l) {
        float v = p[l * inner];
        switch (op) {
            case 1: acc = fmax(acc, v); break;
            case 2: acc = fmin(acc, v); break;
            case 3: acc *= v; break;
            case 4: acc += v * v; break;
            default: acc += v; break;
        }
    }
    y[i] = op == 4 ? acc / (float)len : acc;
}

// Offsets of batch index `b` in A, B and Y of the matrix-product kernels: `meta` is [rank,
// dims[6], strides of A[6], of B[6], of Y[6]].
inline void batch_offsets(int b, __constant const int* meta, int* oa, int* ob, int* oy) {
    *oa = 0;
    *ob = 0;
    *oy = 0;
    for (int d = meta[0] - 1; d >= 0; --d) {
        int dim = meta[1 + d];
        int ix = b % dim;
        b /= dim;
        *oa += ix * meta[1 + MAX_RANK + d];
        *ob += ix * meta[1 + 2 * MAX_RANK + d];
        *oy += ix * meta[1 + 3 * MAX_RANK + d];
    }
}

// A matrix product over strided operands (tract's EinSum): Y[b, m, n] = sum_k A[b, m, k] B[b, k,
// n]. `meta` is [rank, dims[6], strides of A[6], of B[6], of Y[6]] over the batch axes (0 where
// an operand lacks one); `s` is [a_m, a_k, b_k, b_n, y_m, y_n, nk, kdims[4], ka[4], kb[4]]: with
// nk > 1 the contraction runs over nk axes (outermost first) of their own strides, and K is
// their product. Work items are (b, m, n) in row-major order.
__kernel void matmul_strided(__global const float* A, __global const float* B,
                             __global float* Y, __constant const int* meta,
                             __constant const int* s, int M, int N, int K, int relu, int total) {
    int i = get_global_id(0);
    if (i >= total) return;
    int n = i % N;
    int t = i / N;
    int mm = t % M;
    int b = t / M;
    int oa, ob, oy;
    batch_offsets(b, meta, &oa, &ob, &oy);
    __global const float* a = A + oa + mm * s[0];
    __global const float* bb = B + ob + n * s[3];
    float acc = 0.0f;
    int nk = s[6];
    if (nk <= 1) {
        for (int k = 0; k < K; ++k) acc += a[k * s[1]] * bb[k * s[2]];
    } else {
        for (int k = 0; k < K; ++k) {
            int r = k, pa = 0, pb = 0;
            for (int d = nk - 1; d >= 0; --d) {
                int ix = r % s[7 + d];
                r /= s[7 + d];
                pa += ix * s[11 + d];
                pb += ix * s[15 + d];
            }
            acc += a[pa] * bb[pb];
        }
    }
    Y[oy + mm * s[4] + n * s[5]] = relu ? fmax(acc, 0.0f) : acc;
}

// RMS normalisation over the middle axis of [outer, len, inner]: x / sqrt(mean(x^2) + eps).
__kernel void rms_norm_f32(__global const float* x, __global float* y, int len, int inner,
                           float eps, int n) {
    int i = get_global_id(0);
    if (i >= n) return;
    int base = (i / inner) * len * inner + i % inner;
    float sq = 0.0f;
    for (int l = 0; l < len; ++l) sq += x[base + l * inner] * x[base + l * inner];
    float scale = rsqrt(sq / (float)len + eps);
    for (int l = 0; l < len; ++l) y[base + l * inner] = x[base + l * inner] * scale;
}

// The index of the largest (op 0) or smallest (op 1) value along the middle axis of
// [outer, len, inner]; ties take the first index, or the last when `last`.
__kernel void arg_reduce_f32(__global const float* x, __global long* y, int len, int inner,
                             int op, int last, int n) {
    int i = get_global_id(0);
    if (i >= n) return;
    __global const float* p = x + (i / inner) * len * inner + i % inner;
    float best = p[0];
    int at = 0;
    for (int l = 1; l < len; ++l) {
        float v = p[l * inner];
        int better = op == 0 ? (v > best || (last && v == best)) : (v < best || (last && v == best));
        if (better) { best = v; at = l; }
    }
    y[i] = at;
}

// Constant padding. `m` is [rank, output dims[6], input dims[6], pads before[6]].
__kernel void pad_f32(__global const float* x, __global float* y, __constant const int* m,
                      float value, int n) {
    int i = get_global_id(0);
    if (i >= n) return;
    int rank = m[0];
    int r = i, off = 0, stride = 1, inside = 1;
    for (int d = rank - 1; d >= 0; --d) {
        int c = r % m[1 + d] - m[1 + 2 * MAX_RANK + d];
        r /= m[1 + d];
        if (c < 0 || c >= m[1 + MAX_RANK + d]) inside = 0;
        off += c * stride;
        stride *= m[1 + MAX_RANK + d];
    }
    y[i] = inside ? x[off] : value;
}

// Resampling along the middle axis of [outer, len_in, inner] to [outer, len_out, inner]: output
// position o reads `window` input positions idx[o * window + k] with weights w[o * window + k]
// (tract's plan for the axis, so the result is tract's).
__kernel void resample_axis_f32(__global const float* x, __global float* y,
                                __global const long* idx, __global const float* w, int window,
                                int len_in, int len_out, int inner, int n) {
    int i = get_global_id(0);
    if (i >= n) return;
    int in_i = i % inner;
    int o = (i / inner) % len_out;
    int outer = i / (inner * len_out);
    __global const float* p = x + outer * len_in * inner + in_i;
    float acc = 0.0f;
    for (int k = 0; k < window; ++k) acc += w[o * window + k] * p[idx[o * window + k] * inner];
    y[i] = acc;
}

// matmul_strided for a B and Y contiguous along N (b_n = y_n = 1) and one contracted axis: each
// work item computes 8 consecutive outputs of a row, so it reads A once per k for 8 products
// and B's row in order (vectorised on CPU devices). Work items are (b, m, n / 8), row-major.
__kernel void matmul_rows8(__global const float* A, __global const float* B, __global float* Y,
                           __constant const int* meta, __constant const int* s, int M, int N,
                           int K, int relu, int total) {
    int i = get_global_id(0);
    if (i >= total) return;
    int blocks = (N + 7) / 8;
    int n0 = (i % blocks) * 8;
    int t = i / blocks;
    int mm = t % M;
    int b = t / M;
    int oa, ob, oy;
    batch_offsets(b, meta, &oa, &ob, &oy);
    __global const float* a = A + oa + mm * s[0];
    __global const float* bb = B + ob + n0;
    int ak = s[1], bk = s[2];
    float acc[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    int width = min(8, N - n0);
    if (width == 8) {
        for (int k = 0; k < K; ++k) {
            float av = a[k * ak];
            __global const float* row = bb + k * bk;
            for (int j = 0; j < 8; ++j) acc[j] = fma(av, row[j], acc[j]);
        }
    } else {
        for (int k = 0; k < K; ++k) {
            float av = a[k * ak];
            __global const float* row = bb + k * bk;
            for (int j = 0; j < width; ++j) acc[j] = fma(av, row[j], acc[j]);
        }
    }
    __global float* y = Y + oy + mm * s[4] + n0;
    for (int j = 0; j < width; ++j) y[j] = relu ? fmax(acc[j], 0.0f) : acc[j];
}

// conv2d with each work item computing 4 consecutive output columns (same input channel
// window and weight per step, read once for the 4): items are (b, oc, oh, ow / 4), row-major.
__kernel void conv2d_w4(__global const float* X, __global const float* Wt,
                        __global const float* Bs, __global float* Y, __constant const int* m,
                        int n) {
    int i = get_global_id(0);
    if (i >= n) return;
    int C = m[1], H = m[2], W = m[3], M = m[4], OH = m[5], OW = m[6], KH = m[7], KW = m[8];
    int sh = m[9], sw = m[10], ph = m[11], pw = m[12], dh = m[13], dw = m[14], G = m[15];
    int blocks = (OW + 3) / 4;
    int ow0 = (i % blocks) * 4;
    int t = i / blocks;
    int oh = t % OH;
    t /= OH;
    int oc = t % M;
    int b = t / M;
    int cpg = C / G;
    int g = oc / (M / G);
    float bias = m[16] ? Bs[oc] : 0.0f;
    float acc[4] = {bias, bias, bias, bias};
    for (int ic = 0; ic < cpg; ++ic) {
        __global const float* x = X + ((b * C + g * cpg + ic) * H) * W;
        __global const float* w = Wt + ((oc * cpg + ic) * KH) * KW;
        for (int kh = 0; kh < KH; ++kh) {
            int ih = oh * sh - ph + kh * dh;
            if (ih < 0 || ih >= H) continue;
            __global const float* xr = x + ih * W;
            for (int kw = 0; kw < KW; ++kw) {
                float wv = w[kh * KW + kw];
                int iw = ow0 * sw - pw + kw * dw;
                for (int j = 0; j < 4; ++j, iw += sw) {
                    if (iw >= 0 && iw < W) acc[j] = fma(xr[iw], wv, acc[j]);
                }
            }
        }
    }
    __global float* y = Y + ((b * M + oc) * OH + oh) * OW;
    for (int j = 0; j < 4 && ow0 + j < OW; ++j) {
        y[ow0 + j] = m[17] ? fmax(acc[j], 0.0f) : acc[j];
    }
}
