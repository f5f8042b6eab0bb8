//! Attention of one new token (a decode step) over a key/value cache, with
//! grouped-query heads (Ainslie et al. 2023, GQA): the `G` query heads that
//! share a key/value head read its keys and values **once**, together.
//!
//! Shapes: `H = Hkv·G` query heads of width `D`; the token's queries `q` are
//! `(H, D)` with query head `h` reading key/value head `h / G`. The cache
//! holds keys and values as `(Hkv, capacity, D)`: key/value head `g` starts
//! at `g·kv_stride` floats, and this step reads its rows `keys.start ..
//! keys.end` (`n` of them; a sliding window starts later than 0).
//!
//! Per key/value head `g` (scaled dot-product attention, Vaswani et al. 2017):
//!
//! ```text
//! S (G, n) = scale · Q_g (G, D) · K_g[keys]ᵀ      one pass over the keys, G dot products per key
//! S = softmax(S) row by row                       (every key is visible to the newest token)
//! O_g (G, D) = S · V_g[keys]                      one pass over the values, G axpys per value
//! ```
//!
//! Reading `K` and `V` once per group instead of once per query head divides
//! the cache traffic of a decode step by `G` (3 for SmolLM2, 4–8 for Llama 3
//! and Qwen), and one call replaces the `2·H` GEMV calls of the per-head form.
//!
//! The arithmetic of each output is the one a GEMV of the same operands does
//! ([`crate::gemv`]): a score is `scale·Σ` of two interleaved vector FMA
//! chains (even and odd vectors), reduced, plus the scalar tail; an output is
//! the FMA chain `Σ_j p_j·v_j` in key order. So, for heads a whole number of
//! vectors wide, this kernel gives the same bits as the per-head GEMVs it
//! replaces (`tests/attention.rs`), and, each group being computed by one
//! worker, the same bits for any thread count.

use std::convert::Infallible;
use std::ops::Range;

use pulp::{Simd, WithSimd};

use crate::KernelError;
use crate::dispatch::dispatch;
use crate::gemv::dot1;
use crate::parallel::{plan, try_for_each_pair_mut};
use crate::prefetch::{groups_ahead, prefetch_stream};
use crate::softmax::softmax_row;

/// Work (flops over all heads) from which the key/value heads are shared
/// among workers (a worker joins per half of it): the threshold the per-head
/// form used (`smallmind_ops::attention::PARALLEL_MIN_FLOPS`).
pub const DECODE_PARALLEL_MIN_FLOPS: usize = 1 << 18;

/// Software-prefetch distance in the key and value streams: the cache of
/// every layer but the current one has usually left the caches (a decode step
/// streams all the weights through them), so keys and values come from
/// memory, as a GEMV's weights do (the same distance as `crate::gemv`'s).
const PREFETCH_BYTES: usize = 10 * 1024;

/// The geometry of one decode step's attention.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodeAttention {
    /// Key/value heads `Hkv`.
    pub kv_heads: usize,
    /// Query heads per key/value head `G`.
    pub group: usize,
    /// Head width `D`.
    pub head_dim: usize,
    /// Score scale, usually `1/√D`.
    pub scale: f32,
    /// Floats from one key/value head's rows to the next's in the cache
    /// (`capacity·D`).
    pub kv_stride: usize,
    /// The cache rows (positions) the token attends to, the same for every
    /// head.
    pub keys: Range<usize>,
}

impl DecodeAttention {
    /// Query heads `H = Hkv·G`.
    pub fn heads(&self) -> usize {
        self.kv_heads * self.group
    }

    /// Keys attended to, `n`.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the token attends to no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn check(
        &self,
        op: &'static str,
        q: &[f32],
        cache: (&[f32], &[f32]),
        scores: &[f32],
        out: &[f32],
    ) -> Result<(), KernelError> {
        let overflow = |operand| KernelError::SizeOverflow { op, operand };
        let invalid = |dim, value, reason| KernelError::InvalidDimension {
            op,
            dim,
            value,
            reason,
        };
        if self.head_dim == 0 {
            return Err(invalid("head_dim", 0, "must be at least 1"));
        }
        let heads_len = self
            .heads()
            .checked_mul(self.head_dim)
            .ok_or(overflow("q"))?;
        crate::error::check_len(op, "q", heads_len, q.len())?;
        crate::error::check_len(op, "out", heads_len, out.len())?;
        let scores_len = self
            .heads()
            .checked_mul(self.len())
            .ok_or(overflow("scores"))?;
        if scores.len() < scores_len {
            return Err(KernelError::BufferTooSmall {
                op,
                operand: "scores",
                required: scores_len,
                actual: scores.len(),
            });
        }
        if self.kv_heads > 0 && !self.is_empty() {
            let row_end = self.keys.end.checked_mul(self.head_dim);
            if row_end.is_none_or(|end| end > self.kv_stride) {
                return Err(invalid(
                    "keys.end",
                    self.keys.end,
                    "the rows attended to run past one key/value head's stride",
                ));
            }
            let cache_len = (self.kv_heads - 1)
                .checked_mul(self.kv_stride)
                .and_then(|l| l.checked_add(self.kv_stride))
                .ok_or(overflow("keys"))?;
            for (operand, data) in [("keys", cache.0), ("values", cache.1)] {
                if data.len() < cache_len {
                    return Err(KernelError::BufferTooSmall {
                        op,
                        operand,
                        required: cache_len,
                        actual: data.len(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// One decode step's attention: `out (H, D)` from `q (H, D)` over the key
/// and value rows `a.keys` of every key/value head of the cache (see the
/// module docs). `scores` is scratch of at least `H·n` floats; on return its
/// first `H·n` hold the attention probabilities `(H, n)`.
///
/// A token that attends to no key (`n = 0`) gets a zero output.
///
/// # Errors
/// [`KernelError::LengthMismatch`] unless `q` and `out` are `H·D` long,
/// [`KernelError::BufferTooSmall`] for a short `scores`, `keys` or `values`,
/// [`KernelError::InvalidDimension`] for `D = 0` or key rows past a head's
/// stride, [`KernelError::SizeOverflow`] if a size overflows.
pub fn attention_decode(
    a: &DecodeAttention,
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    scores: &mut [f32],
    out: &mut [f32],
) -> Result<(), KernelError> {
    a.check("attention_decode", q, (keys, values), scores, out)?;
    if a.is_empty() || a.kv_heads == 0 {
        out.fill(0.0);
        return Ok(());
    }
    dispatch(DecodeOp {
        a,
        q,
        keys,
        values,
        scores,
        out,
    });
    Ok(())
}

/// Scalar twin of [`attention_decode`]: per query head, f64 dot products, a
/// max-subtracted softmax and weighted sum in f64. Writes the probabilities
/// to `scores` as [`attention_decode`] does.
///
/// # Errors
/// As [`attention_decode`].
pub fn attention_decode_ref(
    a: &DecodeAttention,
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    scores: &mut [f32],
    out: &mut [f32],
) -> Result<(), KernelError> {
    a.check("attention_decode_ref", q, (keys, values), scores, out)?;
    let (d, n) = (a.head_dim, a.len());
    out.fill(0.0);
    if n == 0 {
        return Ok(());
    }
    for h in 0..a.heads() {
        let base = (h / a.group) * a.kv_stride;
        let row = |data: &[f32], j: usize| {
            let start = base + (a.keys.start + j) * d;
            data[start..start + d].to_vec()
        };
        let qh = &q[h * d..(h + 1) * d];
        let s: Vec<f64> = (0..n)
            .map(|j| {
                let dot: f64 = qh
                    .iter()
                    .zip(row(keys, j))
                    .map(|(&x, y)| f64::from(x) * f64::from(y))
                    .sum();
                f64::from(a.scale) * dot
            })
            .collect();
        let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = s.iter().map(|&v| (v - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        let mut acc = vec![0.0f64; d];
        for (j, &ej) in e.iter().enumerate() {
            let p = ej / sum;
            scores[h * n + j] = p as f32;
            for (acc, v) in acc.iter_mut().zip(row(values, j)) {
                *acc += p * f64::from(v);
            }
        }
        for (o, acc) in out[h * d..(h + 1) * d].iter_mut().zip(acc) {
            *o = acc as f32;
        }
    }
    Ok(())
}

/// One validated call with `n ≥ 1` keys and `Hkv ≥ 1`.
struct DecodeOp<'a> {
    a: &'a DecodeAttention,
    q: &'a [f32],
    keys: &'a [f32],
    values: &'a [f32],
    scores: &'a mut [f32],
    out: &'a mut [f32],
}

impl WithSimd for DecodeOp<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let DecodeOp {
            a,
            q,
            keys,
            values,
            scores,
            out,
        } = self;
        let (g, d, n) = (a.group, a.head_dim, a.len());
        let work = 4 * a.heads() * n * d;
        // One key/value head per part, claimed by the workers in turn.
        let groups = plan(
            a.kv_heads,
            1,
            work,
            DECODE_PARALLEL_MIN_FLOPS / 2,
            usize::MAX,
        );
        let _ = try_for_each_pair_mut(
            groups,
            (&mut scores[..a.heads() * n], g * n),
            (out, g * d),
            |kv, scores, out| {
                let rows = kv * a.kv_stride + a.keys.start * d..kv * a.kv_stride + a.keys.end * d;
                let group = Group {
                    q: &q[kv * g * d..(kv + 1) * g * d],
                    keys: &keys[rows.clone()],
                    values: &values[rows],
                    head_dim: d,
                    scale: a.scale,
                };
                simd.vectorize(GroupTask { group, scores, out });
                Ok::<(), Infallible>(())
            },
        );
    }
}

/// One key/value head and its `G` query heads: `q (G, D)`, `keys` and
/// `values (n, D)`.
struct Group<'a> {
    q: &'a [f32],
    keys: &'a [f32],
    values: &'a [f32],
    head_dim: usize,
    scale: f32,
}

struct GroupTask<'a, 'o> {
    group: Group<'a>,
    /// `(G, n)`.
    scores: &'o mut [f32],
    /// `(G, D)`.
    out: &'o mut [f32],
}

impl WithSimd for GroupTask<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let GroupTask { group, scores, out } = self;
        let n = group.keys.len() / group.head_dim;
        scaled_scores(simd, &group, scores);
        for row in scores.chunks_exact_mut(n) {
            softmax_row(simd, row, n);
        }
        weighted_values(simd, &group, scores, out);
    }
}

/// `scores[h, j] = scale · q_h · k_j`, one pass over the keys.
#[inline(always)]
fn scaled_scores<S: Simd>(simd: S, group: &Group<'_>, scores: &mut [f32]) {
    let d = group.head_dim;
    let n = group.keys.len() / d;
    let row_bytes = d * size_of::<f32>();
    let ahead = groups_ahead(row_bytes, PREFETCH_BYTES);
    for (j, key) in group.keys.chunks_exact(d).enumerate() {
        prefetch_stream(group.keys.as_ptr().cast(), j * row_bytes, row_bytes, ahead);
        for (h, qh) in group.q.chunks_exact(d).enumerate() {
            scores[h * n + j] = group.scale * dot1(simd, qh, key, 0);
        }
    }
}

/// `out[h] = Σ_j scores[h, j]·v_j`, one pass over the values, each output an
/// FMA chain in key order. Four keys per pass keep the chain in a register
/// for four FMAs between a load and a store of `out`.
#[inline(always)]
fn weighted_values<S: Simd>(simd: S, group: &Group<'_>, scores: &[f32], out: &mut [f32]) {
    let d = group.head_dim;
    let n = group.values.len() / d;
    out.fill(0.0);
    let row_bytes = d * size_of::<f32>();
    let ahead = groups_ahead(4 * row_bytes, PREFETCH_BYTES);
    let mut j = 0;
    while j < n {
        let keys = (n - j).min(4);
        let at = j * row_bytes;
        prefetch_stream(group.values.as_ptr().cast(), at, 4 * row_bytes, ahead);
        let rows: [&[f32]; 4] =
            std::array::from_fn(|k| &group.values[(j + k.min(keys - 1)) * d..][..d]);
        for (h, oh) in out.chunks_exact_mut(d).enumerate() {
            let p = &scores[h * n + j..h * n + j + keys];
            let (ov, ot) = S::as_mut_simd_f32s(oh);
            for (i, o) in ov.iter_mut().enumerate() {
                let mut t = *o;
                for (k, &pk) in p.iter().enumerate() {
                    t = simd.mul_add_e_f32s(simd.splat_f32s(pk), S::as_simd_f32s(rows[k]).0[i], t);
                }
                *o = t;
            }
            let tail_at = ov.len() * S::F32_LANES;
            for (i, o) in ot.iter_mut().enumerate() {
                for (k, &pk) in p.iter().enumerate() {
                    *o += pk * rows[k][tail_at + i];
                }
            }
        }
        j += keys;
    }
}
