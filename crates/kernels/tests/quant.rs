//! Conformance suite for the quantized kernels (`smallmind_kernels::quant`):
//! quantizers bit-exact with gguf-py, round trips within ggml's limits, block
//! dots / GEMV / GEMM against their f64 oracles on every SIMD path, the
//! documented error of quantized activations, argument errors, thread-count
//! invariance and no allocation after warm-up.

mod common;

use common::{Rng, for_each_quant_path};
use proptest::prelude::*;
use smallmind_kernels::KernelError;
use smallmind_kernels::quant::*;
use smallmind_testkit::{Worst, max_scaled_diff};

// ---------------------------------------------------------------------------
// Tolerances

/// ggml `test-quantize-fns.cpp`: `MAX_QUANTIZATION_TOTAL_ERROR`, the bound on
/// `sqrt(Σ (x − dequant(quant(x)))²) / n` over its synthetic data, for every
/// 4- and 8-bit type.
/// Measured 1.1e-3 (Q4_1) (every path: v4, v3, scalar; `cargo test -p smallmind-kernels --test quant -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): ggml's own limit kept, 1.75×.
const MAX_QUANTIZATION_TOTAL_ERROR: f64 = 0.002;
/// ggml `test-quantize-fns.cpp`: `MAX_DOT_PRODUCT_ERROR`, the bound on
/// `|vec_dot(quant(a), quant_act(b)) − a·b| / n`.
/// Measured 7.8e-3 (Q4_1; ggml's limit is 0.02) (every path: v4, v3, scalar; `cargo test -p smallmind-kernels --test quant -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const MAX_DOT_PRODUCT_ERROR: f64 = 0.016;
/// The quantized paths vs their oracles:
/// `|got − ref| ≤ TOL·(nb + 8)·Σ_b |d_w·d_x|·Σ_j |v_j·q_j|` (+ `|m·s|` terms):
/// f32 scale products and lane sums; the integer sums are exact.
/// Measured 8.8e-9 (the documented bound is 2⁻²³ ≈ 1.2e-7) (every path: v4, v3, scalar; `cargo test -p smallmind-kernels --test quant -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2.3×.
const INT_PATH_TOL: f64 = 2e-8;
/// The f32-activation paths vs their oracles, as a fraction of `Σ |w·x|`
/// (k ≤ a few thousand f32 FMAs with several accumulators).
/// Measured 1.8e-7 (every path: v4, v3, scalar; `cargo test -p smallmind-kernels --test quant -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const F32_PATH_TOL: f64 = 4e-7;

#[global_allocator]
static GLOBAL: common::CountingAllocator = common::CountingAllocator;

// ---------------------------------------------------------------------------
// Helpers

/// The three weight formats under one interface.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fmt {
    Q8_0,
    Q4_0,
    Q4_1,
}

const FMTS: [Fmt; 3] = [Fmt::Q8_0, Fmt::Q4_0, Fmt::Q4_1];

/// Weights and matching quantized activations of one format.
enum Quantized {
    Q8_0(Vec<BlockQ8_0>, Vec<BlockQ8_0>),
    Q4_0(Vec<BlockQ4_0>, Vec<BlockQ8_0>),
    Q4_1(Vec<BlockQ4_1>, Vec<BlockQ8_1>),
}

fn quantize_w<W: bytemuck::Pod>(
    f: fn(&[f32], &mut [W]) -> Result<(), KernelError>,
    x: &[f32],
) -> Vec<W> {
    let mut out = vec![W::zeroed(); x.len() / QK];
    f(x, &mut out).unwrap();
    out
}

impl Fmt {
    /// Quantizes weights `w` and activations `x` (both multiples of 32 long).
    fn quantize(self, w: &[f32], x: &[f32]) -> Quantized {
        match self {
            Fmt::Q8_0 => Quantized::Q8_0(
                quantize_w(quantize::<BlockQ8_0>, w),
                quantize_w(quantize::<BlockQ8_0>, x),
            ),
            Fmt::Q4_0 => Quantized::Q4_0(
                quantize_w(quantize::<BlockQ4_0>, w),
                quantize_w(quantize::<BlockQ8_0>, x),
            ),
            Fmt::Q4_1 => Quantized::Q4_1(
                quantize_w(quantize::<BlockQ4_1>, w),
                quantize_w(quantize::<BlockQ8_1>, x),
            ),
        }
    }
}

/// A 32-value weight block's integer view (`x = d·v + m`), from its public fields.
trait IntView: WeightFormat<Act: ActView> {
    fn scale(&self) -> half::f16;
    fn offset(&self) -> half::f16 {
        half::f16::ZERO
    }
    fn value(&self, j: usize) -> i32;
}

impl IntView for BlockQ8_0 {
    fn scale(&self) -> half::f16 {
        self.d
    }
    fn value(&self, j: usize) -> i32 {
        i32::from(self.qs[j])
    }
}

impl IntView for BlockQ4_0 {
    fn scale(&self) -> half::f16 {
        self.d
    }
    fn value(&self, j: usize) -> i32 {
        i32::from(self.nibble(j)) - 8
    }
}

impl IntView for BlockQ4_1 {
    fn scale(&self) -> half::f16 {
        self.d
    }
    fn offset(&self) -> half::f16 {
        self.m
    }
    fn value(&self, j: usize) -> i32 {
        i32::from(self.nibble(j))
    }
}

/// A 32-value activation block's view (`x = d·q`, `s = d·Σq`).
trait ActView {
    fn scale(&self) -> f32;
    fn scaled_sum(&self) -> f32;
    fn values(&self) -> &[i8; QK];
}

impl ActView for BlockQ8_0 {
    fn scale(&self) -> f32 {
        self.d.to_f32()
    }
    fn scaled_sum(&self) -> f32 {
        0.0
    }
    fn values(&self) -> &[i8; QK] {
        &self.qs
    }
}

impl ActView for BlockQ8_1 {
    fn scale(&self) -> f32 {
        self.d
    }
    fn scaled_sum(&self) -> f32 {
        self.s
    }
    fn values(&self) -> &[i8; QK] {
        &self.qs
    }
}

type GemvFn<W, A> = fn(&[W], usize, usize, &[A], &mut [f32]) -> Result<(), KernelError>;
type GemmFn<W, A> = fn(&[W], usize, usize, &[A], usize, &mut [f32]) -> Result<(), KernelError>;

/// `Σ_b |d_w·d_x|·Σ_j |v_j·q_j| + |m·s|` of one row pair: the scale of the
/// integer paths' f32 error (lane partial sums are scaled and added in f32).
fn abs_terms<W: IntView>(w: &[W], x: &[W::Act]) -> f64 {
    w.iter()
        .zip(x)
        .map(|(wb, xb)| {
            let isum: i64 = (0..QK)
                .map(|j| (i64::from(wb.value(j)) * i64::from(xb.values()[j])).abs())
                .sum();
            let dot = f64::from(wb.scale().to_f32()) * f64::from(xb.scale()) * isum as f64;
            let off = f64::from(wb.offset().to_f32()) * f64::from(xb.scaled_sum());
            dot.abs() + off.abs()
        })
        .sum()
}

fn check_int_close<W: IntView>(got: f32, want: f32, w_row: &[W], x_row: &[W::Act], what: &str) {
    let scale = (w_row.len() + 8) as f64 * abs_terms(w_row, x_row);
    max_scaled_diff(&[f64::from(got)], &[f64::from(want)], &[scale])
        .assert_within(INT_PATH_TOL, what);
}

/// GEMV vs its oracle, every output within the integer-path bound.
fn check_gemv<W: IntView>(
    fast: GemvFn<W, W::Act>,
    oracle: GemvFn<W, W::Act>,
    w: &[W],
    n: usize,
    k: usize,
    x: &[W::Act],
    what: &str,
) -> Vec<f32> {
    let mut got = vec![f32::NAN; n];
    let mut want = vec![f32::NAN; n];
    fast(w, n, k, x, &mut got).unwrap();
    oracle(w, n, k, x, &mut want).unwrap();
    let nb = k / QK;
    for j in 0..n {
        let row = &w[j * nb..][..nb];
        check_int_close(
            got[j],
            want[j],
            row,
            x,
            &format!("{what} n {n} k {k} y[{j}]"),
        );
    }
    got
}

fn check_gemv_fmt(fmt: Fmt, n: usize, k: usize, seed: u64, what: &str) {
    let mut rng = Rng::new(seed);
    let w = rng.vec(n * k, 1.0);
    let x = rng.vec(k, 2.0);
    let what = format!("{what} {fmt:?}");
    match fmt.quantize(&w, &x) {
        Quantized::Q8_0(w, x) => {
            check_gemv(
                gemv::<BlockQ8_0>,
                gemv_ref::<BlockQ8_0>,
                &w,
                n,
                k,
                &x,
                &what,
            );
        }
        Quantized::Q4_0(w, x) => {
            check_gemv(
                gemv::<BlockQ4_0>,
                gemv_ref::<BlockQ4_0>,
                &w,
                n,
                k,
                &x,
                &what,
            );
        }
        Quantized::Q4_1(w, x) => {
            check_gemv(
                gemv::<BlockQ4_1>,
                gemv_ref::<BlockQ4_1>,
                &w,
                n,
                k,
                &x,
                &what,
            );
        }
    }
}

type GemvF32Fn<W> = fn(&[W], usize, usize, &[f32], &mut [f32]) -> Result<(), KernelError>;

fn check_gemv_f32<W: IntView>(
    fast: GemvF32Fn<W>,
    oracle: GemvF32Fn<W>,
    w: &[W],
    n: usize,
    k: usize,
    x: &[f32],
    what: &str,
) {
    let mut got = vec![f32::NAN; n];
    let mut want = vec![f32::NAN; n];
    fast(w, n, k, x, &mut got).unwrap();
    oracle(w, n, k, x, &mut want).unwrap();
    let nb = k / QK;
    // Per output, `Σ |w·x|` over its row.
    let bound: Vec<f64> = (0..n)
        .map(|j| {
            let mut bound = 0.0f64;
            for (b, wb) in w[j * nb..][..nb].iter().enumerate() {
                let mut wf = [0.0f32; QK];
                wb.dequantize_block(&mut wf);
                for (i, &v) in wf.iter().enumerate() {
                    bound += (f64::from(v) * f64::from(x[b * QK + i])).abs();
                }
            }
            bound
        })
        .collect();
    let (got, want) = (widen(&got), widen(&want));
    max_scaled_diff(&got, &want, &bound)
        .assert_within(F32_PATH_TOL, &format!("{what} n {n} k {k}"));
}

fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

fn check_gemv_f32_fmt(fmt: Fmt, n: usize, k: usize, seed: u64, what: &str) {
    let mut rng = Rng::new(seed);
    let w = rng.vec(n * k, 1.0);
    let x = rng.vec(k, 2.0);
    let what = format!("{what} {fmt:?} f32");
    match fmt {
        Fmt::Q8_0 => check_gemv_f32(
            gemv_f32::<BlockQ8_0>,
            gemv_f32_ref::<BlockQ8_0>,
            &quantize_w(quantize::<BlockQ8_0>, &w),
            n,
            k,
            &x,
            &what,
        ),
        Fmt::Q4_0 => check_gemv_f32(
            gemv_f32::<BlockQ4_0>,
            gemv_f32_ref::<BlockQ4_0>,
            &quantize_w(quantize::<BlockQ4_0>, &w),
            n,
            k,
            &x,
            &what,
        ),
        Fmt::Q4_1 => check_gemv_f32(
            gemv_f32::<BlockQ4_1>,
            gemv_f32_ref::<BlockQ4_1>,
            &quantize_w(quantize::<BlockQ4_1>, &w),
            n,
            k,
            &x,
            &what,
        ),
    }
}

/// Depths and row counts of the shape tests.
const KS: [usize; 7] = [0, 32, 64, 96, 160, 576, 1536];
const NS: [usize; 12] = [0, 1, 2, 3, 4, 5, 7, 17, 63, 64, 65, 300];

// ---------------------------------------------------------------------------
// Layout

#[test]
fn block_sizes_and_byte_views() {
    assert_eq!(size_of::<BlockQ8_0>(), 34);
    assert_eq!(size_of::<BlockQ4_0>(), 18);
    assert_eq!(size_of::<BlockQ4_1>(), 20);
    assert_eq!(size_of::<BlockQ8_1>(), 40);
    // A u16 buffer is 2-byte aligned, so an offset of 1 byte is misaligned.
    let storage = vec![0u16; 200];
    let bytes: &[u8] = bytemuck::cast_slice(&storage);
    assert_eq!(
        blocks_from_bytes::<BlockQ4_0>(&bytes[..180]).unwrap().len(),
        10
    );
    assert_eq!(
        blocks_from_bytes::<BlockQ8_0>(&bytes[2..2 + 340])
            .unwrap()
            .len(),
        10
    );
    assert_eq!(
        blocks_from_bytes::<BlockQ4_1>(&bytes[..0]).unwrap().len(),
        0
    );
    assert!(matches!(
        blocks_from_bytes::<BlockQ4_0>(&bytes[..181]),
        Err(KernelError::LengthMismatch { expected: 180, .. })
    ));
    assert!(matches!(
        blocks_from_bytes::<BlockQ4_0>(&bytes[1..1 + 18]),
        Err(KernelError::InvalidDimension { value: 1, .. })
    ));
}

#[test]
fn nibble_order_is_ggml() {
    let mut b = BlockQ4_0::default();
    b.qs[0] = 0x21;
    b.qs[15] = 0xF3;
    assert_eq!(b.nibble(0), 1);
    assert_eq!(b.nibble(16), 2);
    assert_eq!(b.nibble(15), 3);
    assert_eq!(b.nibble(31), 15);
    b.d = half::f16::from_f32(0.5);
    let mut out = [0.0f32; 32];
    dequantize::<BlockQ4_0>(&[b], &mut out).unwrap();
    assert_eq!((out[0], out[16], out[15], out[31]), (-3.5, -3.0, -2.5, 3.5));
}

// ---------------------------------------------------------------------------
// Quantizers

/// `quant_fixture.bin`, written by `fixtures/gen_quant_fixture.py` (gguf-py).
struct Fixture {
    x: Vec<f32>,
    q8_0: Vec<u8>,
    q4_0: Vec<u8>,
    q4_1: Vec<u8>,
}

fn fixture() -> Fixture {
    let bytes = include_bytes!("fixtures/quant_fixture.bin");
    let n = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
    let mut at = 4;
    let mut take = |len: usize| {
        let s = &bytes[at..at + len];
        at += len;
        s.to_vec()
    };
    let x = take(4 * n)
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let nb = n / QK;
    let q8_0 = take(34 * nb);
    let q4_0 = take(18 * nb);
    let q4_1 = take(20 * nb);
    assert_eq!(at, bytes.len());
    Fixture {
        x,
        q8_0,
        q4_0,
        q4_1,
    }
}

fn quantized_bytes<W: bytemuck::Pod>(
    f: fn(&[f32], &mut [W]) -> Result<(), KernelError>,
    x: &[f32],
) -> Vec<u8> {
    bytemuck::cast_slice(&quantize_w(f, x)).to_vec()
}

fn assert_same_blocks(got: &[u8], want: &[u8], block: usize, what: &str) {
    for (i, (g, w)) in got.chunks(block).zip(want.chunks(block)).enumerate() {
        assert_eq!(g, w, "{what}: block {i} differs");
    }
    assert_eq!(got.len(), want.len());
}

#[test]
fn quantizers_bit_exact_with_gguf_py() {
    let fx = fixture();
    for_each_quant_path(|path| {
        let what = |name: &str| format!("{path} {name}");
        assert_same_blocks(
            &quantized_bytes(quantize::<BlockQ8_0>, &fx.x),
            &fx.q8_0,
            34,
            &what("q8_0"),
        );
        assert_same_blocks(
            &quantized_bytes(quantize::<BlockQ4_0>, &fx.x),
            &fx.q4_0,
            18,
            &what("q4_0"),
        );
        assert_same_blocks(
            &quantized_bytes(quantize::<BlockQ4_1>, &fx.x),
            &fx.q4_1,
            20,
            &what("q4_1"),
        );
    });
    let what = |name: &str| format!("ref {name}");
    assert_same_blocks(
        &quantized_bytes(quantize_ref::<BlockQ8_0>, &fx.x),
        &fx.q8_0,
        34,
        &what("q8_0"),
    );
    assert_same_blocks(
        &quantized_bytes(quantize_ref::<BlockQ4_0>, &fx.x),
        &fx.q4_0,
        18,
        &what("q4_0"),
    );
    assert_same_blocks(
        &quantized_bytes(quantize_ref::<BlockQ4_1>, &fx.x),
        &fx.q4_1,
        20,
        &what("q4_1"),
    );
}

#[test]
fn q8_1_is_q8_0_with_f32_scale_and_sum() {
    let fx = fixture();
    for_each_quant_path(|_| {
        let q8_0: Vec<BlockQ8_0> = quantize_w(quantize::<BlockQ8_0>, &fx.x);
        let q8_1: Vec<BlockQ8_1> = quantize_w(quantize::<BlockQ8_1>, &fx.x);
        let q8_1_ref: Vec<BlockQ8_1> = quantize_w(quantize_ref::<BlockQ8_1>, &fx.x);
        assert_eq!(q8_1, q8_1_ref);
        for ((a, b), chunk) in q8_0.iter().zip(&q8_1).zip(fx.x.chunks_exact(QK)) {
            assert_eq!(a.qs, b.qs);
            let amax = chunk.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert_eq!(b.d, amax / 127.0);
            let sum: i32 = b.qs.iter().map(|&q| i32::from(q)).sum();
            assert_eq!(b.s, b.d * sum as f32);
        }
    });
}

/// ggml's synthetic data: `0.1 + 2·cos(i + offset)`.
fn ggml_data(offset: f32, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| 0.1 + 2.0 * (i as f32 + offset).cos())
        .collect()
}

/// ggml's `array_rmse`: `sqrt(Σ d²) / n`.
fn ggml_rmse(a: &[f32], b: &[f32]) -> f64 {
    let sum: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum();
    sum.sqrt() / a.len() as f64
}

#[test]
fn round_trip_within_ggml_limits() {
    const TEST_SIZE: usize = 32 * 128; // as test-quantize-fns
    let x = ggml_data(0.0, TEST_SIZE);
    for_each_quant_path(|path| {
        let mut back = vec![0.0f32; TEST_SIZE];
        for fmt in FMTS {
            match fmt {
                Fmt::Q8_0 => {
                    dequantize::<BlockQ8_0>(&quantize_w(quantize::<BlockQ8_0>, &x), &mut back)
                }
                Fmt::Q4_0 => {
                    dequantize::<BlockQ4_0>(&quantize_w(quantize::<BlockQ4_0>, &x), &mut back)
                }
                Fmt::Q4_1 => {
                    dequantize::<BlockQ4_1>(&quantize_w(quantize::<BlockQ4_1>, &x), &mut back)
                }
            }
            .unwrap();
            Worst::scalar(ggml_rmse(&x, &back))
                .assert_within(MAX_QUANTIZATION_TOTAL_ERROR, &format!("{path} {fmt:?}"));
            // Per-element: half a quantization step plus the f16 scale rounding.
            for (chunk, got) in x.chunks_exact(QK).zip(back.chunks_exact(QK)) {
                let amax = chunk.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                let (lo, hi) = chunk
                    .iter()
                    .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
                let step = match fmt {
                    Fmt::Q8_0 => amax / 127.0,
                    Fmt::Q4_0 => amax / 8.0,
                    Fmt::Q4_1 => (hi - lo) / 15.0,
                };
                // f16 scale (and Q4_1 offset) rounding: 2⁻¹¹ relative, times
                // up to 16 (Q4) or 127 (Q8) steps.
                let slack = match fmt {
                    Fmt::Q8_0 => 127.0 * step / 2048.0,
                    Fmt::Q4_0 => 8.0 * step / 2048.0,
                    Fmt::Q4_1 => 15.0 * step / 2048.0 + lo.abs() / 2048.0,
                };
                for (&a, &b) in chunk.iter().zip(got) {
                    assert!(
                        (a - b).abs() <= step / 2.0 + slack + 1e-6,
                        "{path} {fmt:?}: {a} → {b}"
                    );
                }
            }
        }
    });
}

#[test]
fn dot_product_error_within_ggml_limit() {
    const TEST_SIZE: usize = 32 * 128;
    let a = ggml_data(0.0, TEST_SIZE);
    let b = ggml_data(1.0, TEST_SIZE);
    let exact: f64 = a
        .iter()
        .zip(&b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum();
    for_each_quant_path(|path| {
        for fmt in FMTS {
            let got = match fmt.quantize(&a, &b) {
                Quantized::Q8_0(w, x) => dot::<BlockQ8_0>(&w, &x),
                Quantized::Q4_0(w, x) => dot::<BlockQ4_0>(&w, &x),
                Quantized::Q4_1(w, x) => dot::<BlockQ4_1>(&w, &x),
            }
            .unwrap();
            Worst::scalar((f64::from(got) - exact) / TEST_SIZE as f64)
                .assert_within(MAX_DOT_PRODUCT_ERROR, &format!("{path} {fmt:?}"));
        }
    });
}

#[test]
fn quantizers_survive_special_values() {
    let mut x = Rng::new(3).vec(128, 1.0);
    x[1] = f32::NAN;
    x[40] = f32::INFINITY;
    x[70] = f32::NEG_INFINITY;
    x[100] = 1e-42; // denormal
    for_each_quant_path(|_| {
        let _: Vec<BlockQ8_0> = quantize_w(quantize::<BlockQ8_0>, &x);
        let _: Vec<BlockQ8_1> = quantize_w(quantize::<BlockQ8_1>, &x);
        let _: Vec<BlockQ4_0> = quantize_w(quantize::<BlockQ4_0>, &x);
        let _: Vec<BlockQ4_1> = quantize_w(quantize::<BlockQ4_1>, &x);
        // A block of denormals only and one of zeros quantize without NaN.
        let tiny = [1e-42f32; 32];
        let q: Vec<BlockQ8_0> = quantize_w(quantize::<BlockQ8_0>, &tiny);
        assert!(q[0].d.to_f32().is_finite());
        let q: Vec<BlockQ4_1> = quantize_w(quantize::<BlockQ4_1>, &[0.0; 32]);
        assert_eq!(q[0].qs, [0; 16]);
    });
}

// ---------------------------------------------------------------------------
// Block dots, GEMV, GEMM

#[test]
fn gemv_all_shapes_against_reference() {
    for_each_quant_path(|path| {
        let mut seed = 0;
        for fmt in FMTS {
            for &n in &NS {
                for &k in &KS {
                    seed += 1;
                    check_gemv_fmt(fmt, n, k, seed, &path);
                    check_gemv_f32_fmt(fmt, n, k, seed, &path);
                }
            }
        }
    });
}

#[test]
fn gemv_large_parallel_shape() {
    for_each_quant_path(|path| {
        for fmt in FMTS {
            check_gemv_fmt(fmt, 2051, 576, 7, &format!("{path} large"));
            check_gemv_f32_fmt(fmt, 2051, 576, 7, &format!("{path} large"));
        }
    });
}

#[test]
fn dots_match_gemv_rows_and_reference() {
    let mut rng = Rng::new(11);
    let (w, x) = (rng.vec(3 * 576, 1.0), rng.vec(576, 1.0));
    for_each_quant_path(|path| {
        for fmt in FMTS {
            let (got, want, rows) = match fmt.quantize(&w, &x) {
                Quantized::Q8_0(w, x) => {
                    let mut y = [0.0; 3];
                    gemv::<BlockQ8_0>(&w, 3, 576, &x, &mut y).unwrap();
                    (
                        dot::<BlockQ8_0>(&w[18..36], &x),
                        dot_ref::<BlockQ8_0>(&w[18..36], &x),
                        y,
                    )
                }
                Quantized::Q4_0(w, x) => {
                    let mut y = [0.0; 3];
                    gemv::<BlockQ4_0>(&w, 3, 576, &x, &mut y).unwrap();
                    (
                        dot::<BlockQ4_0>(&w[18..36], &x),
                        dot_ref::<BlockQ4_0>(&w[18..36], &x),
                        y,
                    )
                }
                Quantized::Q4_1(w, x) => {
                    let mut y = [0.0; 3];
                    gemv::<BlockQ4_1>(&w, 3, 576, &x, &mut y).unwrap();
                    (
                        dot::<BlockQ4_1>(&w[18..36], &x),
                        dot_ref::<BlockQ4_1>(&w[18..36], &x),
                        y,
                    )
                }
            };
            let (got, want) = (got.unwrap(), want.unwrap());
            assert_eq!(got, rows[1], "{path} {fmt:?}: dot == gemv row");
            assert!(
                (got - want).abs() <= 1e-4 * want.abs().max(1.0),
                "{path} {fmt:?}"
            );
        }
    });
}

/// `|dot(quant(w), quant(x)) − dot_f32(quant(w), x)|` within the documented
/// bound `Σ_b ε_b·Σ_{j∈b}|w_j|`.
#[test]
fn quantized_activation_error_within_documented_bound() {
    for_each_quant_path(|path| {
        for seed in 0..20u64 {
            let mut rng = Rng::new(100 + seed);
            let k = 32 * (1 + seed as usize % 24);
            let scale = [1.0, 1e-3, 30.0][seed as usize % 3];
            let w = rng.vec(k, 1.0);
            let x = rng.vec(k, scale);
            for fmt in FMTS {
                let mut wf = vec![0.0f32; k];
                let (q, f, is_q8_1) = match fmt.quantize(&w, &x) {
                    Quantized::Q8_0(wq, xq) => {
                        dequantize::<BlockQ8_0>(&wq, &mut wf).unwrap();
                        (
                            dot::<BlockQ8_0>(&wq, &xq),
                            dot_f32::<BlockQ8_0>(&wq, &x),
                            false,
                        )
                    }
                    Quantized::Q4_0(wq, xq) => {
                        dequantize::<BlockQ4_0>(&wq, &mut wf).unwrap();
                        (
                            dot::<BlockQ4_0>(&wq, &xq),
                            dot_f32::<BlockQ4_0>(&wq, &x),
                            false,
                        )
                    }
                    Quantized::Q4_1(wq, xq) => {
                        dequantize::<BlockQ4_1>(&wq, &mut wf).unwrap();
                        (
                            dot::<BlockQ4_1>(&wq, &xq),
                            dot_f32::<BlockQ4_1>(&wq, &x),
                            true,
                        )
                    }
                };
                let mut bound = 0.0f64;
                let mut abs_wx = 0.0f64;
                for (xb, wb) in x.chunks_exact(QK).zip(wf.chunks_exact(QK)) {
                    let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                    let d = f64::from(amax) / 127.0;
                    let mut eps = 1.0001 * f64::from(amax) / 254.0;
                    if !is_q8_1 {
                        eps += 127.0 * (d / 2048.0).max(2f64.powi(-25));
                    }
                    let w_abs: f64 = wb.iter().map(|&v| f64::from(v.abs())).sum();
                    bound += eps * w_abs;
                    abs_wx += wb
                        .iter()
                        .zip(xb)
                        .map(|(&a, &b)| f64::from(a * b).abs())
                        .sum::<f64>();
                }
                let err = (f64::from(q.unwrap()) - f64::from(f.unwrap())).abs();
                assert!(
                    err <= bound + 1e-5 * abs_wx,
                    "{path} {fmt:?} k {k} scale {scale}: err {err} > bound {bound}"
                );
            }
        }
    });
}

fn check_gemm<W: IntView>(
    fast: GemmFn<W, W::Act>,
    oracle: GemmFn<W, W::Act>,
    gemv: GemvFn<W, W::Act>,
    (w, x): (&[W], &[W::Act]),
    (m, n, k): (usize, usize, usize),
    what: &str,
) {
    let mut got = vec![f32::NAN; m * n];
    let mut want = vec![f32::NAN; m * n];
    fast(w, n, k, x, m, &mut got).unwrap();
    oracle(w, n, k, x, m, &mut want).unwrap();
    let nb = k / QK;
    let mut row = vec![0.0f32; n];
    for i in 0..m {
        let x_row = &x[i * nb..][..nb];
        for j in 0..n {
            let w_row = &w[j * nb..][..nb];
            let at = format!("{what} m {m} n {n} k {k} y[{i}, {j}]");
            check_int_close(got[i * n + j], want[i * n + j], w_row, x_row, &at);
        }
        // The tile code is the GEMV's: the same bits.
        gemv(w, n, k, x_row, &mut row).unwrap();
        assert_eq!(
            &got[i * n..][..n],
            &row[..],
            "{what} m {m} n {n} k {k} row {i}"
        );
    }
}

fn check_gemm_fmt(fmt: Fmt, m: usize, n: usize, k: usize, seed: u64, what: &str) {
    let mut rng = Rng::new(seed);
    let w = rng.vec(n * k, 1.0);
    let x = rng.vec(m * k, 3.0);
    let what = format!("{what} {fmt:?}");
    let dims = (m, n, k);
    match fmt.quantize(&w, &x) {
        Quantized::Q8_0(w, x) => check_gemm(
            gemm::<BlockQ8_0>,
            gemm_ref::<BlockQ8_0>,
            gemv::<BlockQ8_0>,
            (&w, &x),
            dims,
            &what,
        ),
        Quantized::Q4_0(w, x) => check_gemm(
            gemm::<BlockQ4_0>,
            gemm_ref::<BlockQ4_0>,
            gemv::<BlockQ4_0>,
            (&w, &x),
            dims,
            &what,
        ),
        Quantized::Q4_1(w, x) => check_gemm(
            gemm::<BlockQ4_1>,
            gemm_ref::<BlockQ4_1>,
            gemv::<BlockQ4_1>,
            (&w, &x),
            dims,
            &what,
        ),
    }
}

#[test]
fn gemm_shapes_against_reference() {
    for_each_quant_path(|path| {
        let mut seed = 500;
        for fmt in FMTS {
            for m in [0, 1, 3, 4, 5, 9] {
                for n in [0, 1, 4, 6, 17] {
                    for k in [0, 32, 96] {
                        seed += 1;
                        check_gemm_fmt(fmt, m, n, k, seed, &path);
                    }
                }
            }
            // Parallel: several row and column rectangles with ragged edges.
            check_gemm_fmt(fmt, 130, 67, 576, seed, &format!("{path} large"));
            // Rows at the edge of what the AVX-512 GEMM unpacks onto the
            // stack (48 block pairs): 97 blocks fit (odd tail), 98 do not.
            for k in [3104, 3136] {
                check_gemm_fmt(fmt, 9, 13, k, seed, &format!("{path} k {k}"));
            }
        }
    });
}

#[test]
fn results_do_not_depend_on_thread_count() {
    let (n, k, m) = (1027, 576, 70);
    let mut rng = Rng::new(9);
    let (w, x) = (rng.vec(n * k, 1.0), rng.vec(m * k, 1.0));
    let (wq, xq): (Vec<BlockQ4_0>, Vec<BlockQ8_0>) = (
        quantize_w(quantize::<BlockQ4_0>, &w),
        quantize_w(quantize::<BlockQ8_0>, &x),
    );
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut y = vec![0.0f32; n];
            let mut yf = vec![0.0f32; n];
            let mut ym = vec![0.0f32; m * n];
            gemv::<BlockQ4_0>(&wq, n, k, &xq[..k / QK], &mut y).unwrap();
            gemv_f32::<BlockQ4_0>(&wq, n, k, &x[..k], &mut yf).unwrap();
            gemm::<BlockQ4_0>(&wq, n, k, &xq, m, &mut ym).unwrap();
            (y, yf, ym)
        })
    };
    assert_eq!(run(1), run(3));
}

#[test]
fn special_values_propagate() {
    let (n, k) = (5, 64);
    let mut rng = Rng::new(5);
    let w: Vec<BlockQ8_0> = quantize_w(quantize::<BlockQ8_0>, &rng.vec(n * k, 1.0));
    let mut x = rng.vec(k, 1.0);
    x[3] = f32::NAN;
    for_each_quant_path(|path| {
        let mut y = vec![0.0f32; n];
        gemv_f32::<BlockQ8_0>(&w, n, k, &x, &mut y).unwrap();
        assert!(y.iter().all(|v| v.is_nan()), "{path}: {y:?}");
        // A weight block with an infinite scale gives ±inf or NaN, no panic.
        let mut w_inf = w.clone();
        w_inf[0].d = half::f16::INFINITY;
        let xq: Vec<BlockQ8_0> = quantize_w(quantize::<BlockQ8_0>, &rng.vec(k, 1.0));
        gemv::<BlockQ8_0>(&w_inf, n, k, &xq, &mut y).unwrap();
        assert!(!y[0].is_finite(), "{path}: {}", y[0]);
        // Activation bytes of −128 (never produced by our quantizers) are exact too.
        let mut xm = xq.clone();
        xm[0].qs = [-128; 32];
        let mut want = vec![0.0f32; n];
        gemv::<BlockQ8_0>(&w, n, k, &xm, &mut y).unwrap();
        gemv_ref::<BlockQ8_0>(&w, n, k, &xm, &mut want).unwrap();
        for (g, e) in y.iter().zip(&want) {
            assert!(
                (g - e).abs() <= 1e-5 * e.abs().max(1.0),
                "{path}: {g} vs {e}"
            );
        }
    });
}

// ---------------------------------------------------------------------------
// Argument errors

#[test]
fn bad_arguments_are_errors() {
    let w = vec![BlockQ4_0::default(); 6];
    let xq = vec![BlockQ8_0::default(); 2];
    let x = vec![0.0f32; 64];
    let mut y = vec![0.0f32; 3];
    let dim = |r: Result<(), KernelError>| matches!(r, Err(KernelError::InvalidDimension { .. }));
    let len = |r: Result<(), KernelError>, operand: &str| matches!(r, Err(KernelError::LengthMismatch { operand: o, .. }) if o == operand);
    assert!(gemv::<BlockQ4_0>(&w, 3, 64, &xq, &mut y).is_ok());
    assert!(dim(gemv::<BlockQ4_0>(&w, 3, 63, &xq, &mut y)));
    assert!(len(gemv::<BlockQ4_0>(&w[..5], 3, 64, &xq, &mut y), "w"));
    assert!(len(gemv::<BlockQ4_0>(&w, 3, 64, &xq[..1], &mut y), "x_q"));
    assert!(len(gemv::<BlockQ4_0>(&w, 3, 64, &xq, &mut y[..2]), "y"));
    assert!(len(gemv_f32::<BlockQ4_0>(&w, 3, 64, &x[..63], &mut y), "x"));
    assert!(matches!(
        gemv::<BlockQ4_0>(&w, usize::MAX, 64, &xq, &mut y),
        Err(KernelError::SizeOverflow { .. })
    ));
    assert!(matches!(
        dot::<BlockQ4_0>(&w, &xq),
        Err(KernelError::LengthMismatch {
            op: "dot",
            operand: "x_q",
            ..
        })
    ));
    assert!(len(dot_f32::<BlockQ4_0>(&w[..2], &x[..60]).map(drop), "x"));
    let mut ym = vec![0.0f32; 6];
    assert!(gemm::<BlockQ4_0>(&w, 3, 64, &xq, 1, &mut ym[..3]).is_ok());
    assert!(len(gemm::<BlockQ4_0>(&w, 3, 64, &xq, 2, &mut ym), "x_q"));
    assert!(len(gemm::<BlockQ4_0>(&w, 3, 64, &xq, 1, &mut ym), "y"));
    assert!(matches!(
        gemm::<BlockQ4_0>(&w, 3, 64, &xq, usize::MAX, &mut ym),
        Err(KernelError::SizeOverflow { .. })
    ));
    let mut out = vec![BlockQ8_0::default(); 2];
    assert!(dim(quantize::<BlockQ8_0>(&x[..33], &mut out)));
    assert!(len(quantize::<BlockQ8_0>(&x, &mut out[..1]), "out"));
    assert!(dim(dequantize::<BlockQ4_0>(&w, &mut ym[..5])));
    assert!(len(
        dequantize::<BlockQ4_0>(&w, &mut vec![0.0; 64]),
        "blocks"
    ));
}

// ---------------------------------------------------------------------------
// Allocation

#[test]
fn no_allocation_after_warm_up() {
    let pool = common::counted_pool();
    let mut rng = Rng::new(21);
    for (n, k, m) in [(7, 64, 3), (2048, 576, 70)] {
        let (w, x) = (rng.vec(n * k, 1.0), rng.vec(m * k, 1.0));
        let w8: Vec<BlockQ8_0> = quantize_w(quantize::<BlockQ8_0>, &w);
        let w4: Vec<BlockQ4_0> = quantize_w(quantize::<BlockQ4_0>, &w);
        let w41: Vec<BlockQ4_1> = quantize_w(quantize::<BlockQ4_1>, &w);
        let mut x8 = vec![BlockQ8_0::default(); m * k / QK];
        let mut x81 = vec![BlockQ8_1::default(); m * k / QK];
        let mut y = vec![0.0f32; n];
        let mut ym = vec![0.0f32; m * n];
        for path in smallmind_kernels::available_paths() {
            let mut call = || {
                smallmind_kernels::with_path(path, || {
                    quantize::<BlockQ8_0>(&x, &mut x8).unwrap();
                    quantize::<BlockQ8_1>(&x, &mut x81).unwrap();
                    let (x8r, x81r) = (&x8[..k / QK], &x81[..k / QK]);
                    gemv::<BlockQ8_0>(&w8, n, k, x8r, &mut y).unwrap();
                    gemv::<BlockQ4_0>(&w4, n, k, x8r, &mut y).unwrap();
                    gemv::<BlockQ4_1>(&w41, n, k, x81r, &mut y).unwrap();
                    gemv_f32::<BlockQ4_1>(&w41, n, k, &x[..k], &mut y).unwrap();
                    dot::<BlockQ8_0>(&w8[..k / QK], x8r).unwrap();
                    gemm::<BlockQ8_0>(&w8, n, k, &x8, m, &mut ym).unwrap();
                    gemm::<BlockQ4_1>(&w41, n, k, &x81, m, &mut ym).unwrap();
                })
                .unwrap();
            };
            let count = common::allocations_after_warm_up(&pool, &mut call);
            assert_eq!(count, 0, "{path} n {n} k {k} m {m}: allocations");
        }
    }
}

// ---------------------------------------------------------------------------
// Property tests

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn random_gemv_matches_reference(
        n in 0usize..40,
        blocks in 0usize..12,
        fmt in 0usize..3,
        seed in any::<u64>(),
    ) {
        for_each_quant_path(|path| {
            check_gemv_fmt(FMTS[fmt], n, blocks * QK, seed, &format!("{path} prop"));
            check_gemv_f32_fmt(FMTS[fmt], n, blocks * QK, seed, &format!("{path} prop"));
        });
    }

    #[test]
    fn random_gemm_matches_reference(
        m in 0usize..10,
        n in 0usize..12,
        blocks in 0usize..5,
        fmt in 0usize..3,
        seed in any::<u64>(),
    ) {
        for_each_quant_path(|path| {
            check_gemm_fmt(FMTS[fmt], m, n, blocks * QK, seed, &format!("{path} prop"));
        });
    }
}

// ---------------------------------------------------------------------------
// K-quants (Q4_K, Q6_K): dequantization and the f32-activation GEMV

/// `kquant_fixture.bin`: random superblocks and gguf-py's dequantization.
fn kquant_fixture() -> (Vec<BlockQ4K>, Vec<f32>, Vec<BlockQ6K>, Vec<f32>) {
    let bytes = include_bytes!("fixtures/kquant_fixture.bin");
    let nb = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
    let mut at = 4;
    let mut take = |len: usize| {
        let s = bytes[at..at + len].to_vec();
        at += len;
        s
    };
    let floats = |b: Vec<u8>| -> Vec<f32> {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let q4k: Vec<BlockQ4K> = take(144 * nb)
        .chunks_exact(144)
        .map(bytemuck::pod_read_unaligned)
        .collect();
    let q4k_deq = floats(take(4 * QK_K * nb));
    let q6k: Vec<BlockQ6K> = take(210 * nb)
        .chunks_exact(210)
        .map(bytemuck::pod_read_unaligned)
        .collect();
    let q6k_deq = floats(take(4 * QK_K * nb));
    assert_eq!(at, bytes.len());
    (q4k, q4k_deq, q6k, q6k_deq)
}

#[test]
fn kquant_dequantize_matches_gguf_py() {
    assert_eq!(size_of::<BlockQ4K>(), 144);
    assert_eq!(size_of::<BlockQ6K>(), 210);
    let (q4k, q4k_deq, q6k, q6k_deq) = kquant_fixture();
    let mut out = vec![0.0f32; q4k_deq.len()];
    dequantize::<BlockQ4K>(&q4k, &mut out).unwrap();
    assert_eq!(out, q4k_deq, "q4_k");
    dequantize::<BlockQ6K>(&q6k, &mut out).unwrap();
    assert_eq!(out, q6k_deq, "q6_k");
    assert!(matches!(
        dequantize::<BlockQ4K>(&q4k, &mut out[..255]),
        Err(KernelError::InvalidDimension { .. })
    ));
}

#[test]
fn kquant_gemv_f32_against_reference() {
    let (q4k, q4k_deq, q6k, q6k_deq) = kquant_fixture();
    // Rows of 1..3 superblocks cut from the fixture's 12.
    for (nb, n) in [(1, 1), (1, 12), (2, 5), (3, 4), (4, 3)] {
        let k = nb * QK_K;
        let x = Rng::new((nb * n) as u64).vec(k, 1.0);
        for_each_quant_path(|path| {
            let mut got = vec![0.0f32; n];
            let mut want = vec![0.0f32; n];
            for (name, deq) in [("q4_k", &q4k_deq), ("q6_k", &q6k_deq)] {
                if name == "q4_k" {
                    gemv_f32::<BlockQ4K>(&q4k[..n * nb], n, k, &x, &mut got).unwrap();
                    gemv_f32_ref::<BlockQ4K>(&q4k[..n * nb], n, k, &x, &mut want).unwrap();
                } else {
                    gemv_f32::<BlockQ6K>(&q6k[..n * nb], n, k, &x, &mut got).unwrap();
                    gemv_f32_ref::<BlockQ6K>(&q6k[..n * nb], n, k, &x, &mut want).unwrap();
                }
                let bound: Vec<f64> = (0..n)
                    .map(|j| {
                        (0..k)
                            .map(|p| (f64::from(deq[j * k + p]) * f64::from(x[p])).abs())
                            .sum()
                    })
                    .collect();
                max_scaled_diff(&widen(&got), &widen(&want), &bound)
                    .assert_within(F32_PATH_TOL, &format!("{path} {name} n {n} k {k}"));
            }
        });
    }
    let mut y = vec![0.0f32; 2];
    assert!(matches!(
        gemv_f32::<BlockQ6K>(&q6k[..2], 2, 255, &[0.0; 255], &mut y),
        Err(KernelError::InvalidDimension { .. })
    ));
    assert!(matches!(
        gemv_f32::<BlockQ6K>(&q6k[..3], 2, 256, &[0.0; 256], &mut y),
        Err(KernelError::LengthMismatch { operand: "w", .. })
    ));
}
