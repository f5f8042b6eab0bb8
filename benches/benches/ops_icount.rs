//! Instruction counts (valgrind/callgrind through gungraun) of the `smallmind-ops` layers at
//! the geometry of M-small (width `C = 128`, 4 heads of `D = 32`, MLP width `F = 512`):
//! - `linear`: a 16-row prefill projection `128 → 384` (the fused QKV, Conv1D `[in, out]`
//!   layout, GEMM), the same for one decode row (GEMV), and one row against bf16 `[out, in]`
//!   weights read in place (`gemv_bf16`);
//! - `attention`: one decode query over a KV cache of 64 positions, and a 16-token prefill
//!   tile ending at position 64 (causal mask), 4 query heads over 2 key/value heads (GQA);
//! - `gelu_mlp`: `r += proj(gelu(fc(x)))` for 16 rows and for one row;
//! - `norm_rows`: LayerNorm and RMSNorm of 16 rows;
//! - `rope`: rotary embeddings on the query and key parts of 16 projected rows.
//!
//! Like `kernels_icount` (see its docs), every bench forces the AVX2+FMA path and runs
//! single-threaded on the measured thread; inputs are built and each op is called once to
//! warm up in `setup`, outside the counted region. The counts are deterministic:
//! `cargo xtask bench --check` gates them against `benches/baseline/icount.json`.

// `#[library_benchmark]` wraps each function in a generated module that cannot carry docs.
#![allow(missing_docs)]

use std::hint::black_box;

use gungraun::prelude::*;
use half::bf16;
use smallmind_benches::icount::{PATH_ENV, assert_serial, on_path};
use smallmind_benches::uniform_vec;
use smallmind_ops::attention::attention;
use smallmind_ops::mlp::{Gelu, gelu_mlp};
use smallmind_ops::norm::norm_rows;
use smallmind_ops::rope::RopeTable;
use smallmind_ops::{
    AttentionScratch, AttentionShape, KvCacheRef, Linear, MatMut, MatRef, Norm, WeightData,
    WeightLayout,
};

/// Model width `C` (M-small).
const WIDTH: usize = 128;
/// Query heads `H`.
const HEADS: usize = 4;
/// Key/value heads `Hkv` (two query heads share one).
const KV_HEADS: usize = 2;
/// Head width `D`.
const HEAD_DIM: usize = 32;
/// MLP hidden width `F = 4·C`.
const HIDDEN: usize = 4 * WIDTH;
/// Rows of a prefill chunk.
const PREFILL_ROWS: usize = 16;
/// KV cache positions (and the position the last query sits at, plus one).
const CACHE: usize = 64;
/// Epsilon of every norm.
const EPS: f32 = 1e-5;

// ---------------------------------------------------------------------------------------
// linear

/// The stored weights of one `128 → out` layer with bias: f32 `[in, out]` or bf16 `[out, in]`.
struct LinearWeights {
    f32: Vec<f32>,
    bf16: Vec<bf16>,
    bias: Vec<f32>,
    out: usize,
    use_bf16: bool,
}

impl LinearWeights {
    fn layer(&self) -> Linear<'_> {
        let bias = Some(self.bias.as_slice());
        let layer = if self.use_bf16 {
            Linear::half(WeightData::Bf16(&self.bf16), WIDTH, self.out, bias)
        } else {
            Linear::new(&self.f32, WeightLayout::InOut, WIDTH, self.out, bias)
        };
        layer.expect("linear layer")
    }
}

/// One layer with its `(rows, 128)` input, `(rows, out)` output and scratch.
struct LinearCase {
    weights: LinearWeights,
    x: Vec<f32>,
    y: Vec<f32>,
    scratch: Vec<f32>,
    rows: usize,
}

impl LinearCase {
    fn run(&mut self) {
        let layer = self.weights.layer();
        let x = MatRef::new(&self.x, self.rows, WIDTH).expect("x");
        let y = MatMut::new(&mut self.y, self.rows, self.weights.out).expect("y");
        on_path(|| smallmind_ops::linear::linear(&layer, x, y, &mut self.scratch)).expect("linear");
    }
}

fn linear_case(rows: usize, out: usize, use_bf16: bool) -> LinearCase {
    assert_serial();
    let f32 = uniform_vec(WIDTH * out, 71, -0.1, 0.1);
    let weights = LinearWeights {
        bf16: f32.iter().map(|&w| bf16::from_f32(w)).collect(),
        f32,
        bias: uniform_vec(out, 72, -0.1, 0.1),
        out,
        use_bf16,
    };
    let scratch = vec![0.0; weights.layer().scratch_len(rows)];
    let mut case = LinearCase {
        weights,
        x: uniform_vec(rows * WIDTH, 73, -1.0, 1.0),
        y: vec![0.0; rows * out],
        scratch,
        rows,
    };
    case.run();
    case
}

// `y = x·W + b`, the fused QKV projection of M-small.
#[library_benchmark]
#[bench::prefill_16x128_384(args = (PREFILL_ROWS, 3 * WIDTH, false), setup = linear_case)]
#[bench::decode_1x128_384(args = (1, 3 * WIDTH, false), setup = linear_case)]
#[bench::decode_bf16_1x128_384(args = (1, 3 * WIDTH, true), setup = linear_case)]
fn linear(mut case: LinearCase) -> LinearCase {
    black_box(&mut case).run();
    case
}

// ---------------------------------------------------------------------------------------
// attention

/// Queries, a filled KV cache of [`CACHE`] positions, scratch and output.
struct AttentionCase {
    shape: AttentionShape,
    q: Vec<f32>,
    keys: Vec<f32>,
    values: Vec<f32>,
    scores: Vec<f32>,
    head_out: Vec<f32>,
    out: Vec<f32>,
    rows: usize,
}

impl AttentionCase {
    fn run(&mut self) {
        let shape = self.shape;
        let q_dim = shape.q_dim();
        let pos0 = CACHE - self.rows;
        let q = MatRef::new(&self.q, self.rows, q_dim).expect("q");
        let cache = KvCacheRef {
            keys: &self.keys,
            values: &self.values,
            capacity: CACHE,
        };
        let scratch = AttentionScratch {
            scores: &mut self.scores,
            head_out: &mut self.head_out,
        };
        let out = MatMut::new(&mut self.out, self.rows, q_dim).expect("out");
        on_path(|| attention(&shape, q, pos0, cache, scratch, out)).expect("attention");
    }
}

/// `rows` queries at positions `CACHE - rows..CACHE` over a full cache.
fn attention_case(rows: usize) -> AttentionCase {
    assert_serial();
    let shape = AttentionShape::new(HEADS, KV_HEADS, HEAD_DIM).expect("shape");
    let cache_len = shape.cache_len(CACHE);
    let mut case = AttentionCase {
        shape,
        q: uniform_vec(rows * shape.q_dim(), 81, -1.0, 1.0),
        keys: uniform_vec(cache_len, 82, -1.0, 1.0),
        values: uniform_vec(cache_len, 83, -1.0, 1.0),
        scores: vec![0.0; shape.scores_len(rows, CACHE)],
        head_out: vec![0.0; shape.head_out_len(rows)],
        out: vec![0.0; rows * shape.q_dim()],
        rows,
    };
    case.run();
    case
}

// Causal attention over the cache: decode (one query) and a prefill tile.
#[library_benchmark]
#[bench::decode_kv64(args = (1,), setup = attention_case)]
#[bench::prefill_16_kv64(args = (PREFILL_ROWS,), setup = attention_case)]
fn attention_gqa(mut case: AttentionCase) -> AttentionCase {
    black_box(&mut case).run();
    case
}

// ---------------------------------------------------------------------------------------
// gelu_mlp

/// The two layers of a GPT-2 MLP (Conv1D layout, with biases) and its buffers.
struct MlpCase {
    fc_w: Vec<f32>,
    fc_b: Vec<f32>,
    proj_w: Vec<f32>,
    proj_b: Vec<f32>,
    x: Vec<f32>,
    hidden: Vec<f32>,
    residual: Vec<f32>,
    rows: usize,
}

impl MlpCase {
    fn run(&mut self) {
        let fc = Linear::new(
            &self.fc_w,
            WeightLayout::InOut,
            WIDTH,
            HIDDEN,
            Some(&self.fc_b),
        )
        .expect("fc");
        let proj = Linear::new(
            &self.proj_w,
            WeightLayout::InOut,
            HIDDEN,
            WIDTH,
            Some(&self.proj_b),
        )
        .expect("proj");
        let rows = self.rows;
        let x = MatRef::new(&self.x, rows, WIDTH).expect("x");
        let hidden = MatMut::new(&mut self.hidden, rows, HIDDEN).expect("hidden");
        let residual = MatMut::new(&mut self.residual, rows, WIDTH).expect("residual");
        on_path(|| gelu_mlp(&fc, &proj, Gelu::Tanh, x, hidden, residual, &mut []))
            .expect("gelu_mlp");
    }
}

fn mlp_case(rows: usize) -> MlpCase {
    assert_serial();
    let mut case = MlpCase {
        fc_w: uniform_vec(WIDTH * HIDDEN, 91, -0.1, 0.1),
        fc_b: uniform_vec(HIDDEN, 92, -0.1, 0.1),
        proj_w: uniform_vec(HIDDEN * WIDTH, 93, -0.1, 0.1),
        proj_b: uniform_vec(WIDTH, 94, -0.1, 0.1),
        x: uniform_vec(rows * WIDTH, 95, -2.0, 2.0),
        hidden: vec![0.0; rows * HIDDEN],
        residual: uniform_vec(rows * WIDTH, 96, -1.0, 1.0),
        rows,
    };
    case.run();
    case
}

// `r += proj(gelu_tanh(fc(x)))`, `128 → 512 → 128`.
#[library_benchmark]
#[bench::prefill_16(args = (PREFILL_ROWS,), setup = mlp_case)]
#[bench::decode_1(args = (1,), setup = mlp_case)]
fn gelu_mlp_tanh(mut case: MlpCase) -> MlpCase {
    black_box(&mut case).run();
    case
}

// ---------------------------------------------------------------------------------------
// norm_rows

/// `(rows, C)` input and output, γ and β.
struct NormCase {
    x: Vec<f32>,
    gamma: Vec<f32>,
    beta: Vec<f32>,
    out: Vec<f32>,
    rms: bool,
}

impl NormCase {
    fn run(&mut self) {
        let norm = if self.rms {
            Norm::Rms {
                gamma: &self.gamma,
                eps: EPS,
            }
        } else {
            Norm::Layer {
                gamma: &self.gamma,
                beta: &self.beta,
                eps: EPS,
            }
        };
        let rows = self.x.len() / WIDTH;
        let x = MatRef::new(&self.x, rows, WIDTH).expect("x");
        let out = MatMut::new(&mut self.out, rows, WIDTH).expect("out");
        on_path(|| norm_rows(&norm, x, out)).expect("norm_rows");
    }
}

fn norm_case(rows: usize, rms: bool) -> NormCase {
    assert_serial();
    let mut case = NormCase {
        x: uniform_vec(rows * WIDTH, 101, -3.0, 5.0),
        gamma: uniform_vec(WIDTH, 102, 0.5, 1.5),
        beta: uniform_vec(WIDTH, 103, -0.1, 0.1),
        out: vec![0.0; rows * WIDTH],
        rms,
    };
    case.run();
    case
}

// LayerNorm (γ, β) and RMSNorm (γ) over `(16, 128)`.
#[library_benchmark]
#[bench::layer_16x128(args = (PREFILL_ROWS, false), setup = norm_case)]
#[bench::rms_16x128(args = (PREFILL_ROWS, true), setup = norm_case)]
fn norm(mut case: NormCase) -> NormCase {
    black_box(&mut case).run();
    case
}

// ---------------------------------------------------------------------------------------
// rope

/// A RoPE table for [`CACHE`] positions and 16 projected `q|k|v` rows.
struct RopeCase {
    shape: AttentionShape,
    table: RopeTable,
    qkv: Vec<f32>,
}

impl RopeCase {
    fn width(&self) -> usize {
        self.shape.q_dim() + 2 * self.shape.kv_dim()
    }

    fn run(&mut self) {
        let width = self.width();
        let rows = self.qkv.len() / width;
        let mut qkv = MatMut::new(&mut self.qkv, rows, width).expect("qkv");
        on_path(|| self.table.apply_qk(&self.shape, &mut qkv, CACHE - rows)).expect("rope");
    }
}

fn rope_case(rows: usize) -> RopeCase {
    assert_serial();
    let shape = AttentionShape::new(HEADS, KV_HEADS, HEAD_DIM).expect("shape");
    let table = RopeTable::new(10_000.0, HEAD_DIM, CACHE).expect("rope table");
    let width = shape.q_dim() + 2 * shape.kv_dim();
    let mut case = RopeCase {
        shape,
        table,
        qkv: uniform_vec(rows * width, 111, -1.0, 1.0),
    };
    case.run();
    case
}

// Rotate-half RoPE on the query and key heads of 16 rows (positions 48..64).
#[library_benchmark]
#[bench::rows_16(args = (PREFILL_ROWS,), setup = rope_case)]
fn rope(mut case: RopeCase) -> RopeCase {
    black_box(&mut case).run();
    case
}

library_benchmark_group!(
    name = ops_v3,
    benchmarks = [linear, attention_gqa, gelu_mlp_tanh, norm, rope]
);

main!(
    config = LibraryBenchmarkConfig::default()
        .env("SMALLMIND_SIMD", PATH_ENV)
        .env("RAYON_NUM_THREADS", "1"),
    library_benchmark_groups = ops_v3
);
