//! Kernels against outside references, on every SIMD path: `fixtures/oracle/kernels.safetensors`
//! (SiLU from torch, GEMV with f32/f16/bf16 weights from torch matmul in f64) and
//! `fixtures/oracle/quant.safetensors` (activation quantizers against gguf-py and ggml's Q8_K
//! rule; quantized GEMV/GEMM against gguf-py's dequantization multiplied in f64). Both files are
//! written by `scripts/fixtures/make_oracles.py`; `fixtures/oracle/README.md` says what each
//! tensor is.

mod common;

use bytemuck::Pod;
use common::for_each_path;
use safetensors::{Dtype, SafeTensors};
use smallmind_kernels::activation::{silu, silu_inplace};
use smallmind_kernels::gemm::Gemm;
use smallmind_kernels::gemv::gemv;
use smallmind_kernels::gemv_half::{bf16, f16, gemv_bf16, gemv_f16};
use smallmind_kernels::quant::{
    self, BlockQ4_0, BlockQ4_1, BlockQ4K, BlockQ6K, BlockQ8_0, BlockQ8_1, BlockQ8K, QK, QK_K, gemm,
    gemv_f32, quantize,
};
use smallmind_testkit::{fixture, max_abs_diff, max_rel_diff, max_rel_to_scale};

// Tolerances: twice the worst error measured over every SIMD path of the machine that made
// them (x86-64 V4, V3 and scalar; `cargo test -p smallmind-kernels --test oracle`).

/// SiLU against torch's f64 SiLU rounded to f32, relative (absolute below 1e-12): measured
/// 2.8e-7. Below x ≈ −87 ours gives 0 where torch gives |silu(x)| < 1.4e-36; the floor
/// ignores that.
const SILU_REL_TOL: f64 = 5.5e-7;
/// f32 GEMV (k = 515, |y| ≤ 2.5) against the f64 product, absolute: measured 1.3e-6 with `B`
/// as stored, 9.5e-7 transposed.
const GEMV_ABS_TOL: f64 = 2.6e-6;
/// f16- and bf16-weight GEMV against the f64 product of the same 16-bit weights, absolute:
/// measured 6.0e-7 for both.
const GEMV_HALF_ABS_TOL: f64 = 1.2e-6;
/// Quantized weights with f32 activations against gguf-py's dequantization times `x` in f64,
/// relative to each output row's scale: measured Q8_0 1.2e-6, Q4_0 9.7e-7, Q4_1 6.1e-7,
/// Q4_K 8.3e-7, Q6_K 1.0e-6.
const QUANT_F32_ACT_REL_TOL: f64 = 2.4e-6;
/// Quantized weights with quantized activations against the product of the dequantized weight
/// and activation blocks in f64 (the integer block sums are exact, only the f32 scaling and
/// summation differ), relative to each output row's scale, GEMV and GEMM alike: measured
/// Q8_0 1.6e-7, Q4_0 1.6e-7, Q4_1 3.9e-7, Q4_K 2.0e-7, Q6_K 2.2e-7.
const QUANT_Q_ACT_REL_TOL: f64 = 8e-7;

/// One tensor of an oracle file: its dtype, shape and raw little-endian bytes.
struct Tensor {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

fn tensor(file: &str, name: &str) -> Tensor {
    let path = fixture(&format!("oracle/{file}"));
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let tensors = SafeTensors::deserialize(&data).expect("valid safetensors");
    let view = tensors
        .tensor(name)
        .unwrap_or_else(|e| panic!("{file}: tensor {name}: {e}"));
    Tensor {
        dtype: view.dtype(),
        shape: view.shape().to_vec(),
        bytes: view.data().to_vec(),
    }
}

impl Tensor {
    /// The values as `T` (copied, so any alignment works); the dtype must be `dtype`.
    fn values<T: Pod>(&self, dtype: Dtype) -> Vec<T> {
        assert_eq!(self.dtype, dtype);
        smallmind_testkit::pod_vec(&self.bytes)
    }
}

fn f32s(file: &str, name: &str) -> Vec<f32> {
    tensor(file, name).values(Dtype::F32)
}

// ---------------------------------------------------------------- SiLU, GEMV

#[test]
fn silu_matches_torch() {
    let x = f32s("kernels.safetensors", "silu_x");
    let want = f32s("kernels.safetensors", "silu_out");
    for_each_path(|path| {
        let mut got = vec![f32::NAN; x.len()];
        silu(&x, &mut got).unwrap();
        max_rel_diff(&got, &want, 1e-12).assert_within(SILU_REL_TOL, &format!("silu {path:?}"));
        let mut inplace = x.clone();
        silu_inplace(&mut inplace);
        max_rel_diff(&inplace, &want, 1e-12)
            .assert_within(SILU_REL_TOL, &format!("silu_inplace {path:?}"));
    });
}

/// `(x (k), W (n, k), n, k)`.
fn gemv_case() -> (Vec<f32>, Vec<f32>, usize, usize) {
    let w = tensor("kernels.safetensors", "gemv_w");
    let (n, k) = (w.shape[0], w.shape[1]);
    (
        f32s("kernels.safetensors", "gemv_x"),
        w.values(Dtype::F32),
        n,
        k,
    )
}

#[test]
fn gemv_matches_torch_in_both_layouts() {
    let (x, w, n, k) = gemv_case();
    let want = f32s("kernels.safetensors", "gemv_y");
    // W as stored, (n, k): the HF [out, in] layout, `op(B) = Wᵀ`.
    let mut w_kn = vec![0.0; k * n];
    for (j, row) in w.chunks_exact(k).enumerate() {
        for (p, &v) in row.iter().enumerate() {
            w_kn[p * n + j] = v;
        }
    }
    for_each_path(|path| {
        let mut got = vec![f32::NAN; n];
        gemv(&Gemm::new(1, n, k).transpose_b(), &x, &w, &mut got).unwrap();
        max_abs_diff(&got, &want).assert_within(GEMV_ABS_TOL, &format!("gemv Bᵀ {path:?}"));
        let mut got = vec![f32::NAN; n];
        gemv(&Gemm::new(1, n, k), &x, &w_kn, &mut got).unwrap();
        max_abs_diff(&got, &want).assert_within(GEMV_ABS_TOL, &format!("gemv B {path:?}"));
    });
}

#[test]
fn gemv_half_matches_torch() {
    let (x, _, n, k) = gemv_case();
    let w16: Vec<f16> = tensor("kernels.safetensors", "gemv_w_f16").values(Dtype::F16);
    let wbf: Vec<bf16> = tensor("kernels.safetensors", "gemv_w_bf16").values(Dtype::BF16);
    let want16 = f32s("kernels.safetensors", "gemv_y_f16");
    let want_bf = f32s("kernels.safetensors", "gemv_y_bf16");
    for_each_path(|path| {
        let mut split = vec![f32::NAN; k];
        let mut got = vec![f32::NAN; n];
        gemv_f16(&x, &w16, n, k, &mut split, &mut got).unwrap();
        max_abs_diff(&got, &want16).assert_within(GEMV_HALF_ABS_TOL, &format!("f16 {path:?}"));
        let mut got = vec![f32::NAN; n];
        gemv_bf16(&x, &wbf, n, k, &mut split, &mut got).unwrap();
        max_abs_diff(&got, &want_bf).assert_within(GEMV_HALF_ABS_TOL, &format!("bf16 {path:?}"));
    });
}

// ---------------------------------------------------------------- activation quantizers

/// The quantization fixture: weights `(n, k)`, activations `x (m, k)`.
struct QuantCase {
    n: usize,
    k: usize,
    m: usize,
    x: Vec<f32>,
}

fn quant_case() -> QuantCase {
    let x = tensor("quant.safetensors", "x");
    let w = tensor("quant.safetensors", "w_f32");
    QuantCase {
        n: w.shape[0],
        k: x.shape[1],
        m: x.shape[0],
        x: x.values(Dtype::F32),
    }
}

fn blocks<B: Pod>(name: &str) -> Vec<B> {
    tensor("quant.safetensors", name).values(Dtype::U8)
}

/// Our activation quantizers, on every path, against gguf-py's Q8_0 bytes (bit-exact) and the
/// engine's Q8_1 (the same values with the f32 scale `max|x|/127` that gguf-py computes before
/// rounding it to f16).
#[test]
fn q8_0_and_q8_1_activations_match_gguf_py() {
    let c = quant_case();
    let want_q8_0: Vec<BlockQ8_0> = blocks("x_q8_0");
    let want_d: Vec<f32> = tensor("quant.safetensors", "x_q8_1_d").values(Dtype::F32);
    for_each_path(|path| {
        let mut q8_0 = vec![BlockQ8_0::default(); c.x.len() / QK];
        quantize::<BlockQ8_0>(&c.x, &mut q8_0).unwrap();
        assert!(
            q8_0 == want_q8_0,
            "Q8_0 bytes differ from gguf-py ({path:?})"
        );
        let mut q8_1 = vec![BlockQ8_1::default(); c.x.len() / QK];
        quantize::<BlockQ8_1>(&c.x, &mut q8_1).unwrap();
        for (b, (ours, (q8, d))) in q8_1.iter().zip(want_q8_0.iter().zip(&want_d)).enumerate() {
            assert_eq!(ours.qs, q8.qs, "Q8_1 block {b} values ({path:?})");
            assert_eq!(
                ours.d.to_bits(),
                d.to_bits(),
                "Q8_1 block {b} scale ({path:?})"
            );
            let sum: i32 = ours.qs.iter().map(|&q| i32::from(q)).sum();
            assert_eq!(ours.s, ours.d * sum as f32, "Q8_1 block {b} sum ({path:?})");
        }
    });
}

/// ggml's `quantize_row_q8_K_ref` takes the sign of `d` from the value of largest magnitude
/// (`d = max/−127`); ours keeps `d > 0`. The blocks are then exact negatives of each other,
/// which this undoes before comparing bits.
fn same_up_to_sign(ours: &BlockQ8K, ggml: &BlockQ8K) -> bool {
    let flip = ours.d == -ggml.d && ours.d != 0.0;
    let sign = if flip { -1 } else { 1 };
    let d = if flip { -ggml.d } else { ggml.d };
    d.to_bits() == ours.d.to_bits()
        && ours
            .qs
            .iter()
            .zip(&ggml.qs)
            .all(|(&a, &b)| i16::from(a) == sign * i16::from(b))
        && ours
            .bsums
            .iter()
            .zip(&ggml.bsums)
            .all(|(&a, &b)| a == sign * b)
}

#[test]
fn q8_k_activations_match_ggml() {
    let c = quant_case();
    let want: Vec<BlockQ8K> = blocks("x_q8_k");
    for_each_path(|path| {
        let mut got = vec![BlockQ8K::default(); c.x.len() / QK_K];
        quantize::<BlockQ8K>(&c.x, &mut got).unwrap();
        for (b, (ours, ggml)) in got.iter().zip(&want).enumerate() {
            assert!(
                same_up_to_sign(ours, ggml),
                "Q8_K block {b} ({path:?}): ours d {:e}, ggml d {:e}",
                ours.d,
                ggml.d
            );
        }
    });
}

// ---------------------------------------------------------------- quantized GEMV / GEMM

/// Checks `got (m, n)` against `want (m, n)` row by row, relative to each row's scale.
fn assert_rows(got: &[f32], want: &[f32], n: usize, tol: f64, what: &str) {
    for (i, (g, w)) in got.chunks_exact(n).zip(want.chunks_exact(n)).enumerate() {
        max_rel_to_scale(g, w).assert_within(tol, &format!("{what}, row {i}"));
    }
}

/// A quantized GEMV: `(w, n, k, x, y)`.
type QGemv<W, A> =
    fn(&[W], usize, usize, &[A], &mut [f32]) -> Result<(), smallmind_kernels::KernelError>;
/// A quantized GEMM: `(w, n, k, x, m, y)`.
type QGemm<W, A> =
    fn(&[W], usize, usize, &[A], usize, &mut [f32]) -> Result<(), smallmind_kernels::KernelError>;

/// The f32-activation GEMV of one format, each row of `x` in turn, against `<name>_y_f32act`.
fn check_f32_act<W: Pod>(name: &str, gemv_f32: QGemv<W, f32>) {
    let c = quant_case();
    let w: Vec<W> = blocks(&format!("{name}_w"));
    let want = f32s("quant.safetensors", &format!("{name}_y_f32act"));
    for_each_path(|path| {
        let mut got = vec![f32::NAN; c.m * c.n];
        for (x, y) in c.x.chunks_exact(c.k).zip(got.chunks_exact_mut(c.n)) {
            gemv_f32(&w, c.n, c.k, x, y).unwrap();
        }
        assert_rows(
            &got,
            &want,
            c.n,
            QUANT_F32_ACT_REL_TOL,
            &format!("{name} f32 act {path:?}"),
        );
    });
}

#[test]
fn quantized_gemv_with_f32_activations_matches_gguf_py() {
    check_f32_act::<BlockQ8_0>("q8_0", gemv_f32::<BlockQ8_0>);
    check_f32_act::<BlockQ4_0>("q4_0", gemv_f32::<BlockQ4_0>);
    check_f32_act::<BlockQ4_1>("q4_1", gemv_f32::<BlockQ4_1>);
    check_f32_act::<BlockQ4K>("q4_k", gemv_f32::<BlockQ4K>);
    check_f32_act::<BlockQ6K>("q6_k", gemv_f32::<BlockQ6K>);
}

/// The quantized-activation GEMV (row by row) and GEMM (all rows) of one format against
/// `<name>_y_qact`, the activations quantized by `quantize` (checked above against gguf-py /
/// ggml).
fn check_q_act<W: Pod, A: Pod + Default>(
    name: &str,
    block: usize,
    quantize: fn(&[f32], &mut [A]) -> Result<(), smallmind_kernels::KernelError>,
    gemv_q: QGemv<W, A>,
    gemm_q: QGemm<W, A>,
) {
    let c = quant_case();
    let w: Vec<W> = blocks(&format!("{name}_w"));
    let want = f32s("quant.safetensors", &format!("{name}_y_qact"));
    for_each_path(|path| {
        let mut xq = vec![A::default(); c.x.len() / block];
        quantize(&c.x, &mut xq).unwrap();
        let mut got = vec![f32::NAN; c.m * c.n];
        for (x, y) in xq.chunks_exact(c.k / block).zip(got.chunks_exact_mut(c.n)) {
            gemv_q(&w, c.n, c.k, x, y).unwrap();
        }
        assert_rows(
            &got,
            &want,
            c.n,
            QUANT_Q_ACT_REL_TOL,
            &format!("{name} GEMV {path:?}"),
        );
        let mut got = vec![f32::NAN; c.m * c.n];
        gemm_q(&w, c.n, c.k, &xq, c.m, &mut got).unwrap();
        assert_rows(
            &got,
            &want,
            c.n,
            QUANT_Q_ACT_REL_TOL,
            &format!("{name} GEMM {path:?}"),
        );
    });
}

#[test]
fn quantized_gemv_and_gemm_with_q8_activations_match_the_exact_block_product() {
    check_q_act::<BlockQ8_0, BlockQ8_0>(
        "q8_0",
        QK,
        quantize::<BlockQ8_0>,
        quant::gemv::<BlockQ8_0>,
        gemm::<BlockQ8_0>,
    );
    check_q_act::<BlockQ4_0, BlockQ8_0>(
        "q4_0",
        QK,
        quantize::<BlockQ8_0>,
        quant::gemv::<BlockQ4_0>,
        gemm::<BlockQ4_0>,
    );
    check_q_act::<BlockQ4_1, BlockQ8_1>(
        "q4_1",
        QK,
        quantize::<BlockQ8_1>,
        quant::gemv::<BlockQ4_1>,
        gemm::<BlockQ4_1>,
    );
}

#[test]
fn k_quant_gemv_and_gemm_with_q8_k_activations_match_the_exact_block_product() {
    check_q_act::<BlockQ4K, BlockQ8K>(
        "q4_k",
        QK_K,
        quantize::<BlockQ8K>,
        quant::gemv::<BlockQ4K>,
        gemm::<BlockQ4K>,
    );
    check_q_act::<BlockQ6K, BlockQ8K>(
        "q6_k",
        QK_K,
        quantize::<BlockQ8K>,
        quant::gemv::<BlockQ6K>,
        gemm::<BlockQ6K>,
    );
}
