//! Causal multi-head attention over a KV cache, with grouped-query heads.
//!
//! Shapes: `T` new tokens at absolute positions `pos0..pos0+T`; `H` query
//! heads and `Hkv` key/value heads of width `D` (`H` a multiple of `Hkv`,
//! query head `h` reads key/value head `h / (H/Hkv)`; `Hkv = 1` is
//! multi-query attention). The cache of one layer holds keys and values as
//! `(Hkv, capacity, D)`, so the keys one head needs are one contiguous
//! `(n, D)` matrix.
//!
//! Per query head (Vaswani et al. 2017, scaled dot-product attention):
//!
//! ```text
//! for each tile of QUERY_TILE query rows i0..i1:       // causal tile skipping:
//!     n = pos0 + i1                                     //   keys past the tile's last row are never touched
//!     S (rows, n) = scale · Q_tile · K[..n]ᵀ            // one GEMM (A·Bᵀ form)
//!     S = softmax(S) row by row, row r valid up to pos0 + i0 + r (fused mask: exp only on valid entries)
//!     O_tile (rows, D) = S · V[..n]                     // one GEMM
//! ```
//!
//! With a sliding window ([`AttentionShape::window`]) a tile starts at the
//! first key its first row sees, and each row's softmax covers its own
//! `window` keys; earlier keys are never read.
//!
//! Decode (`T = 1`) takes its own kernel,
//! [`attention_decode`]: the
//! query heads of one key/value head read its keys and values once, together,
//! with the arithmetic of the GEMV forms the tile loop would use (dot products
//! over contiguous key rows, then an axpy sweep over value rows).
//!
//! Heads run in parallel above [`PARALLEL_MIN_FLOPS`]; each head's arithmetic
//! is the same whichever thread runs it, so results do not depend on the
//! thread count. The heads write `(H, T, D)` into a scratch buffer, gathered
//! into the `(T, H·D)` output at the end (for `T = 1` the layouts coincide).

use smallmind_kernels::attention::{DecodeAttention, attention_decode};
use smallmind_kernels::gemm::{Gemm, gemm};
use smallmind_kernels::parallel::{plan, try_for_each_pair_mut};
use smallmind_kernels::softmax::{softmax_row_inplace, softmax_rows_inplace};

use crate::OpsError;
use crate::matrix::{MatMut, MatRef};

/// Query rows per score tile: the `(QUERY_TILE, n)` score block of one head
/// stays in L2 while its softmax and P·V run.
pub const QUERY_TILE: usize = 64;

/// Attention work (flops over all heads) from which heads run in parallel.
pub const PARALLEL_MIN_FLOPS: usize = 1 << 18;

/// The head geometry of one attention layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttentionShape {
    /// Query heads `H`.
    pub n_heads: usize,
    /// Key/value heads `Hkv` (divides `H`).
    pub n_kv_heads: usize,
    /// Head width `D`.
    pub head_dim: usize,
    /// Score scale, usually `1/√D`.
    pub scale: f32,
    /// Sliding window (Beltagy et al. 2020; Mistral, Gemma's local layers):
    /// the query at position `p` sees only keys `p − window < j ≤ p`, at
    /// most `window` of them. `None`: every earlier key.
    pub window: Option<usize>,
}

impl AttentionShape {
    /// Checked geometry with the usual `1/√D` scale.
    pub fn new(n_heads: usize, n_kv_heads: usize, head_dim: usize) -> Result<Self, OpsError> {
        if n_heads == 0 || n_kv_heads == 0 || head_dim == 0 || !n_heads.is_multiple_of(n_kv_heads) {
            return Err(OpsError::Shape {
                op: "AttentionShape",
                what: format!(
                    "{n_heads} query heads, {n_kv_heads} key/value heads of width {head_dim}: \
                     all must be nonzero and the key/value heads must divide the query heads"
                ),
            });
        }
        Ok(AttentionShape {
            n_heads,
            n_kv_heads,
            head_dim,
            scale: 1.0 / (head_dim as f32).sqrt(),
            window: None,
        })
    }

    /// `H·D`, the width of the query and output rows.
    pub fn q_dim(&self) -> usize {
        self.n_heads * self.head_dim
    }

    /// `Hkv·D`, the width of the key and value rows.
    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }

    /// The first key position the query at `position` sees.
    pub fn first_key(&self, position: usize) -> usize {
        match self.window {
            Some(w) => (position + 1).saturating_sub(w),
            None => 0,
        }
    }

    /// Query heads per key/value head.
    pub fn group_size(&self) -> usize {
        self.n_heads / self.n_kv_heads
    }

    /// Floats of score scratch for up to `max_tokens` new tokens against a
    /// cache of `capacity` positions: `H · min(max_tokens, QUERY_TILE) · capacity`.
    pub fn scores_len(&self, max_tokens: usize, capacity: usize) -> usize {
        self.n_heads * max_tokens.min(QUERY_TILE) * capacity
    }

    /// Floats of per-head output scratch for up to `max_tokens` tokens: `H · T · D`.
    pub fn head_out_len(&self, max_tokens: usize) -> usize {
        self.n_heads * max_tokens * self.head_dim
    }

    /// Floats of one layer's key (or value) cache: `Hkv · capacity · D`.
    pub fn cache_len(&self, capacity: usize) -> usize {
        self.n_kv_heads * capacity * self.head_dim
    }
}

/// One layer's KV cache, `(Hkv, capacity, D)` each for keys and values.
#[derive(Debug)]
pub struct KvCacheLayer<'a> {
    /// Keys.
    pub keys: &'a mut [f32],
    /// Values.
    pub values: &'a mut [f32],
    /// Positions the cache holds.
    pub capacity: usize,
}

/// One layer's filled KV cache, read-only: what [`attention`] reads.
#[derive(Clone, Copy, Debug)]
pub struct KvCacheRef<'a> {
    /// Keys, `(Hkv, capacity, D)`.
    pub keys: &'a [f32],
    /// Values, `(Hkv, capacity, D)`.
    pub values: &'a [f32],
    /// Positions the cache holds.
    pub capacity: usize,
}

/// Scratch buffers for [`attention`], sized by [`AttentionShape::scores_len`]
/// and [`AttentionShape::head_out_len`].
#[derive(Debug)]
pub struct AttentionScratch<'a> {
    /// Score tiles, one region per head.
    pub scores: &'a mut [f32],
    /// Per-head outputs `(H, T, D)`.
    pub head_out: &'a mut [f32],
}

fn shape_error(op: &'static str, what: String) -> OpsError {
    OpsError::Shape { op, what }
}

/// Writes the keys and values of `T` new tokens (rows `(T, Hkv·D)`) into the
/// cache at positions `pos0..pos0+T`.
///
/// # Errors
/// [`OpsError::Shape`] when the rows do not match the geometry or the cache
/// cannot hold `pos0 + T` positions.
pub fn write_kv(
    shape: &AttentionShape,
    keys: MatRef<'_>,
    values: MatRef<'_>,
    pos0: usize,
    cache: &mut KvCacheLayer<'_>,
) -> Result<(), OpsError> {
    const OP: &str = "write_kv";
    let (d, kv_dim, cap) = (shape.head_dim, shape.kv_dim(), cache.capacity);
    let t = keys.rows;
    if keys.cols != kv_dim || values.cols != kv_dim || values.rows != t {
        return Err(shape_error(
            OP,
            format!(
                "keys ({}, {}) and values ({}, {}) must both be (T, {kv_dim})",
                keys.rows, keys.cols, values.rows, values.cols
            ),
        ));
    }
    check_cache(OP, shape, cache, pos0 + t)?;
    for (src, dst) in [(keys, &mut *cache.keys), (values, &mut *cache.values)] {
        for i in 0..t {
            let row = src.row(i);
            for (g, head) in row.chunks_exact(d).enumerate() {
                let at = (g * cap + pos0 + i) * d;
                dst[at..at + d].copy_from_slice(head);
            }
        }
    }
    Ok(())
}

fn check_cache(
    op: &'static str,
    shape: &AttentionShape,
    cache: &KvCacheLayer<'_>,
    positions: usize,
) -> Result<(), OpsError> {
    let len = shape.cache_len(cache.capacity);
    if cache.keys.len() != len || cache.values.len() != len {
        return Err(shape_error(
            op,
            format!(
                "cache buffers hold {} / {} floats, the geometry needs {len}",
                cache.keys.len(),
                cache.values.len()
            ),
        ));
    }
    if positions > cache.capacity {
        return Err(shape_error(
            op,
            format!(
                "{positions} positions do not fit a cache of {}",
                cache.capacity
            ),
        ));
    }
    Ok(())
}

/// Causal attention of `T` queries (`q`, `(T, H·D)`, at positions
/// `pos0..pos0+T`) over the cache's first `pos0 + T` positions, which must
/// already hold these tokens' keys and values ([`write_kv`]). Writes
/// `(T, H·D)` into `out`.
///
/// # Errors
/// [`OpsError::Shape`] / [`OpsError::Length`] when views, scratch or cache do
/// not match the geometry.
pub fn attention(
    shape: &AttentionShape,
    q: MatRef<'_>,
    pos0: usize,
    cache: KvCacheRef<'_>,
    scratch: AttentionScratch<'_>,
    mut out: MatMut<'_>,
) -> Result<(), OpsError> {
    const OP: &str = "attention";
    let t = q.rows;
    check_attention_io(OP, shape, &q, &out, t)?;
    let capacity = cache.capacity;
    let cache = CacheView::new(OP, shape, cache, pos0 + t)?;
    let scores_per_head = t.min(QUERY_TILE) * capacity;
    let out_per_head = t * shape.head_dim;
    let scores = take(
        OP,
        "scores",
        scratch.scores,
        shape.n_heads * scores_per_head,
    )?;
    let head_out = take(
        OP,
        "head_out",
        scratch.head_out,
        shape.n_heads * out_per_head,
    )?;
    if t == 0 {
        return Ok(());
    }
    if t == 1 {
        return decode(shape, &q, pos0, &cache, scores, out);
    }

    let work = 4 * shape.n_heads * t * (pos0 + t) * shape.head_dim;
    // One head per part, claimed by the workers in turn; a worker joins per
    // half the measured two-worker crossover.
    let heads = plan(shape.n_heads, 1, work, PARALLEL_MIN_FLOPS / 2, usize::MAX);
    try_for_each_pair_mut(
        heads,
        (&mut *scores, scores_per_head),
        (&mut *head_out, out_per_head),
        |h, scores, head_out| attend_one_head(shape, &q, pos0, &cache, h, scores, head_out),
    )?;
    gather_heads(shape, head_out, &mut out);
    Ok(())
}

/// One new token (`T = 1`): every key/value head's group of query heads in
/// one pass over its keys and values ([`attention_decode`]). The `(H, 1, D)`
/// head layout is the `(1, H·D)` output row, so no gather is needed.
fn decode(
    shape: &AttentionShape,
    q: &MatRef<'_>,
    pos0: usize,
    cache: &CacheView<'_>,
    scores: &mut [f32],
    out: MatMut<'_>,
) -> Result<(), OpsError> {
    let d = shape.head_dim;
    let geometry = DecodeAttention {
        kv_heads: shape.n_kv_heads,
        group: shape.group_size(),
        head_dim: d,
        scale: shape.scale,
        kv_stride: cache.capacity * d,
        keys: shape.first_key(pos0)..pos0 + 1,
    };
    let q_dim = shape.q_dim();
    attention_decode(
        &geometry,
        &q.data[..q_dim],
        cache.keys,
        cache.values,
        scores,
        &mut out.data[..q_dim],
    )?;
    Ok(())
}

fn check_attention_io(
    op: &'static str,
    shape: &AttentionShape,
    q: &MatRef<'_>,
    out: &MatMut<'_>,
    t: usize,
) -> Result<(), OpsError> {
    if q.cols != shape.q_dim() || out.cols != shape.q_dim() || out.rows != t {
        return Err(shape_error(
            op,
            format!(
                "q ({}, {}) and out ({}, {}) must both be (T, {})",
                q.rows,
                q.cols,
                out.rows,
                out.cols,
                shape.q_dim()
            ),
        ));
    }
    Ok(())
}

fn take<'a>(
    op: &'static str,
    operand: &'static str,
    buf: &'a mut [f32],
    len: usize,
) -> Result<&'a mut [f32], OpsError> {
    let actual = buf.len();
    buf.get_mut(..len).ok_or(OpsError::Length {
        op,
        operand,
        expected: len,
        actual,
    })
}

/// The filled part of one layer's cache.
struct CacheView<'a> {
    keys: &'a [f32],
    values: &'a [f32],
    capacity: usize,
    /// Positions that hold data (`pos0 + T`).
    len: usize,
}

impl<'a> CacheView<'a> {
    fn new(
        op: &'static str,
        shape: &AttentionShape,
        cache: KvCacheRef<'a>,
        len: usize,
    ) -> Result<Self, OpsError> {
        let KvCacheRef {
            keys,
            values,
            capacity,
        } = cache;
        let need = shape.cache_len(capacity);
        if keys.len() != need || values.len() != need || len > capacity {
            return Err(shape_error(
                op,
                format!(
                    "cache of {} / {} floats for {len} positions; the geometry needs {need} \
                     floats and at most {capacity} positions",
                    keys.len(),
                    values.len()
                ),
            ));
        }
        Ok(CacheView {
            keys,
            values,
            capacity,
            len,
        })
    }

    /// `(n, D)` keys and values of key/value head `g`.
    fn head(&self, g: usize, n: usize, d: usize) -> (&'a [f32], &'a [f32]) {
        let start = g * self.capacity * d;
        (
            &self.keys[start..start + n * d],
            &self.values[start..start + n * d],
        )
    }
}

/// One query head over all its query tiles; writes `(T, D)` into `head_out`.
///
/// A tile's keys run from the first key its first row sees (`lo`; 0 without
/// a window) to its last row's position; with a window, each row's softmax
/// covers only its own keys and the rest of its scores become 0.
fn attend_one_head(
    shape: &AttentionShape,
    q: &MatRef<'_>,
    pos0: usize,
    cache: &CacheView<'_>,
    h: usize,
    scores: &mut [f32],
    head_out: &mut [f32],
) -> Result<(), OpsError> {
    let d = shape.head_dim;
    let (keys, values) = cache.head(h / shape.group_size(), cache.len, d);
    for i0 in (0..q.rows).step_by(QUERY_TILE) {
        let rows = QUERY_TILE.min(q.rows - i0);
        let lo = shape.first_key(pos0 + i0);
        let n = pos0 + i0 + rows - lo;
        let s = &mut scores[..rows * n];
        let qk = Gemm::new(rows, n, d)
            .transpose_b()
            .alpha(shape.scale)
            .lda(q.ld)
            .ldb(d);
        gemm(&qk, &q.data[i0 * q.ld + h * d..], &keys[lo * d..], s)?;
        if shape.window.is_none() {
            softmax_rows_inplace(s, n, Some(pos0 + i0))?;
        } else {
            for (r, row) in s.chunks_exact_mut(n).enumerate() {
                let p = pos0 + i0 + r;
                let (masked, live) = row.split_at_mut(shape.first_key(p) - lo);
                masked.fill(0.0);
                softmax_row_inplace(live, p + 1 - shape.first_key(p))?;
            }
        }
        let pv = Gemm::new(rows, d, n);
        gemm(
            &pv,
            s,
            &values[lo * d..(lo + n) * d],
            &mut head_out[i0 * d..(i0 + rows) * d],
        )?;
    }
    Ok(())
}

/// `(H, T, D)` → `(T, H·D)`.
fn gather_heads(shape: &AttentionShape, head_out: &[f32], out: &mut MatMut<'_>) {
    let d = shape.head_dim;
    let t = out.rows;
    for (h, head) in head_out.chunks_exact(t * d).enumerate() {
        for (i, src) in head.chunks_exact(d).enumerate() {
            out.row_mut(i)[h * d..(h + 1) * d].copy_from_slice(src);
        }
    }
}

/// Scalar twin of [`attention`]: per query and head, explicit dot products,
/// a max-subtracted softmax in f64 and the weighted sum of values. Reads the
/// same cache layout; needs no scratch.
///
/// # Errors
/// As [`attention`].
pub fn attention_ref(
    shape: &AttentionShape,
    q: MatRef<'_>,
    pos0: usize,
    cache: KvCacheRef<'_>,
    mut out: MatMut<'_>,
) -> Result<(), OpsError> {
    const OP: &str = "attention_ref";
    let t = q.rows;
    check_attention_io(OP, shape, &q, &out, t)?;
    let cache = CacheView::new(OP, shape, cache, pos0 + t)?;
    let d = shape.head_dim;
    for i in 0..t {
        let n = pos0 + i + 1;
        let first = shape.first_key(pos0 + i);
        for h in 0..shape.n_heads {
            let (k, v) = cache.head(h / shape.group_size(), n, d);
            let (k, v) = (&k[first * d..], &v[first * d..]);
            let qh = &q.row(i)[h * d..(h + 1) * d];
            let s: Vec<f64> = k
                .chunks_exact(d)
                .map(|kr| {
                    let dot: f64 = qh
                        .iter()
                        .zip(kr)
                        .map(|(&a, &b)| f64::from(a) * f64::from(b))
                        .sum();
                    dot * f64::from(shape.scale)
                })
                .collect();
            let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|&x| (x - max).exp()).collect();
            let sum: f64 = e.iter().sum();
            let o = &mut out.row_mut(i)[h * d..(h + 1) * d];
            for (c, oc) in o.iter_mut().enumerate() {
                let acc: f64 = e
                    .iter()
                    .zip(v.chunks_exact(d))
                    .map(|(&p, vr)| p * f64::from(vr[c]))
                    .sum();
                *oc = (acc / sum) as f32;
            }
        }
    }
    Ok(())
}
