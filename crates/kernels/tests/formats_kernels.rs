//! The integer SIMD tiles of the 32-value weight formats added to the
//! registry after Q8_0/Q4_0/Q4_1 (Q5_0, Q5_1, IQ4_NL): GEMV, GEMM (m = 1..9) and the
//! f32-activation GEMV on every SIMD path (and V4 held to 256-bit VNNI)
//! against their f64 oracles (`*_ref`), with the bounds of `tests/quant.rs`;
//! random block bytes (every code, activations down to −128) as well as
//! quantized rows; and thread-count invariance (1 vs 2 rayon threads, bit
//! for bit).

mod common;

use bytemuck::Pod;
use common::{Rng, for_each_quant_path};
use half::f16;
use smallmind_kernels::quant::formats::{BlockIq4Nl, BlockQ5_0, BlockQ5_1};
use smallmind_kernels::quant::*;
use smallmind_kernels::{SimdPath, available_paths, with_path};
use smallmind_testkit::max_scaled_diff;

/// The quantized paths vs their oracles, as in `tests/quant.rs`:
/// `|got − ref| ≤ TOL·(nb + 8)·Σ_b (|d_w·d_x|·Σ_j |v_j·q_j| + |m·s_x|)`.
/// Measured 8.3e-9 (IQ4_NL, v4; every format on every path: v4, v4-narrow, v3, scalar;
/// `cargo test -p smallmind-kernels --test formats_kernels -- --nocapture` with the errors
/// printed, Intel Xeon Ice Lake, 2026-12-07): about 2.4×.
const INT_PATH_TOL: f64 = 2e-8;
/// The f32-activation paths vs their oracles, as a fraction of `Σ |w·x|`.
/// Measured 2.0e-7 (Q5_1, scalar; as above): about 2×.
const F32_PATH_TOL: f64 = 4e-7;

/// Depths and row counts of the GEMV shapes: 0 to 3 and 5 blocks (odd counts
/// leave the 512-bit tiles a last single block), 18, 48.
const KS: [usize; 7] = [0, 32, 64, 96, 160, 576, 1536];
const NS: [usize; 10] = [0, 1, 2, 3, 4, 5, 7, 17, 64, 65];

/// A weight format under test: its integer view `x = d·v + m` (for the error
/// bound) and a valid block from random bytes.
trait Format: WeightFormat<Act: Activation> {
    /// `(d, m, v)`.
    fn int_view(&self) -> (f32, f32, [i8; QK]);
    /// Random bytes with a small finite scale (and offset).
    fn random(rng: &mut Rng) -> Self;
}

/// An activation format: `x = d·q`, `s = d·Σq` (0 without).
trait Activation: Pod {
    fn int_view(&self) -> (f32, f32, [i8; QK]);
    fn random(rng: &mut Rng) -> Self;
}

/// Bytes drawn uniformly from `0..=255`.
fn random_pod<B: Pod>(rng: &mut Rng) -> B {
    let mut b = B::zeroed();
    for byte in bytemuck::bytes_of_mut(&mut b) {
        *byte = ((rng.next_f32() + 1.0) * 128.0) as u8;
    }
    b
}

/// A scale in `±[0, 0.02)`, as f16.
fn small_f16(rng: &mut Rng) -> f16 {
    f16::from_f32(0.02 * rng.next_f32())
}

impl Activation for BlockQ8_0 {
    fn int_view(&self) -> (f32, f32, [i8; QK]) {
        (self.d.to_f32(), 0.0, self.qs)
    }
    fn random(rng: &mut Rng) -> Self {
        BlockQ8_0 {
            d: small_f16(rng),
            ..random_pod(rng)
        }
    }
}

impl Activation for BlockQ8_1 {
    fn int_view(&self) -> (f32, f32, [i8; QK]) {
        (self.d, self.s, self.qs)
    }
    fn random(rng: &mut Rng) -> Self {
        let qs = random_pod::<BlockQ8_0>(rng).qs;
        let d = 0.02 * rng.next_f32();
        let sum: i32 = qs.iter().map(|&q| i32::from(q)).sum();
        BlockQ8_1 {
            d,
            s: d * sum as f32,
            qs,
        }
    }
}

impl Format for BlockQ5_0 {
    fn int_view(&self) -> (f32, f32, [i8; QK]) {
        (self.d.to_f32(), 0.0, self.values())
    }
    fn random(rng: &mut Rng) -> Self {
        BlockQ5_0 {
            d: small_f16(rng),
            ..random_pod(rng)
        }
    }
}

impl Format for BlockQ5_1 {
    fn int_view(&self) -> (f32, f32, [i8; QK]) {
        (self.d.to_f32(), self.m.to_f32(), self.values())
    }
    fn random(rng: &mut Rng) -> Self {
        BlockQ5_1 {
            d: small_f16(rng),
            m: small_f16(rng),
            ..random_pod(rng)
        }
    }
}

impl Format for BlockIq4Nl {
    fn int_view(&self) -> (f32, f32, [i8; QK]) {
        (self.d.to_f32(), 0.0, self.values())
    }
    fn random(rng: &mut Rng) -> Self {
        BlockIq4Nl {
            d: small_f16(rng),
            ..random_pod(rng)
        }
    }
}

fn quantized<B: BlockFormat>(x: &[f32]) -> Vec<B> {
    let mut out = vec![B::zeroed(); x.len() / B::VALUES];
    quantize::<B>(x, &mut out).unwrap();
    out
}

/// `Σ_b (|d_w·d_x|·Σ_j |v_j·q_j| + |m·s_x|)` of one row pair.
fn abs_terms<W: Format>(w: &[W], x: &[W::Act]) -> f64 {
    w.iter()
        .zip(x)
        .map(|(wb, xb)| {
            let (dw, m, v) = wb.int_view();
            let (dx, s, q) = xb.int_view();
            let isum: i64 = v
                .iter()
                .zip(&q)
                .map(|(&v, &q)| (i64::from(v) * i64::from(q)).abs())
                .sum();
            (f64::from(dw) * f64::from(dx)).abs() * isum as f64
                + (f64::from(m) * f64::from(s)).abs()
        })
        .sum()
}

/// `y (m, n)` of the integer path within its bound of the oracle's `want`.
fn check_int<W: Format>(
    got: &[f32],
    want: &[f32],
    (w, x): (&[W], &[W::Act]),
    (m, n, k): (usize, usize, usize),
    what: &str,
) {
    let nb = k / QK;
    let scale: Vec<f64> = (0..m * n)
        .map(|i| {
            let (r, j) = (i / n.max(1), i % n.max(1));
            (nb + 8) as f64 * abs_terms(&w[j * nb..][..nb], &x[r * nb..][..nb])
        })
        .collect();
    max_scaled_diff(&widen(got), &widen(want), &scale)
        .assert_within(INT_PATH_TOL, &format!("{what} m {m} n {n} k {k}"));
}

fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// Quantized GEMV vs [`gemv_ref`].
fn check_gemv<W: Format>(w: &[W], x: &[W::Act], n: usize, k: usize, what: &str) {
    let mut got = vec![f32::NAN; n];
    let mut want = vec![f32::NAN; n];
    gemv::<W>(w, n, k, x, &mut got).unwrap();
    gemv_ref::<W>(w, n, k, x, &mut want).unwrap();
    check_int(&got, &want, (w, x), (1, n, k), &format!("{what} gemv"));
}

/// f32-activation GEMV vs [`gemv_f32_ref`], within `F32_PATH_TOL·Σ |w·x|`.
fn check_gemv_f32<W: Format>(w: &[W], x: &[f32], n: usize, k: usize, what: &str) {
    let mut got = vec![f32::NAN; n];
    let mut want = vec![f32::NAN; n];
    gemv_f32::<W>(w, n, k, x, &mut got).unwrap();
    gemv_f32_ref::<W>(w, n, k, x, &mut want).unwrap();
    let mut wf = vec![0.0f32; n * k];
    dequantize::<W>(w, &mut wf).unwrap();
    let bound: Vec<f64> = (0..n)
        .map(|j| {
            wf[j * k..][..k]
                .iter()
                .zip(x)
                .map(|(&a, &b)| (f64::from(a) * f64::from(b)).abs())
                .sum()
        })
        .collect();
    max_scaled_diff(&widen(&got), &widen(&want), &bound)
        .assert_within(F32_PATH_TOL, &format!("{what} gemv_f32 n {n} k {k}"));
}

/// Quantized GEMM vs [`gemm_ref`]; each of its rows is the GEMV's, bit for bit.
fn check_gemm<W: Format>(w: &[W], x: &[W::Act], (m, n, k): (usize, usize, usize), what: &str) {
    let mut got = vec![f32::NAN; m * n];
    let mut want = vec![f32::NAN; m * n];
    gemm::<W>(w, n, k, x, m, &mut got).unwrap();
    gemm_ref::<W>(w, n, k, x, m, &mut want).unwrap();
    check_int(&got, &want, (w, x), (m, n, k), &format!("{what} gemm"));
    let nb = k / QK;
    let mut row = vec![f32::NAN; n];
    for i in 0..m {
        gemv::<W>(w, n, k, &x[i * nb..][..nb], &mut row).unwrap();
        assert_eq!(
            bits(&got[i * n..][..n]),
            bits(&row),
            "{what} gemm m {m} n {n} k {k}: row {i} differs from the gemv"
        );
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn random_blocks<B>(rng: &mut Rng, count: usize, random: fn(&mut Rng) -> B) -> Vec<B> {
    (0..count).map(|_| random(rng)).collect()
}

/// Quantized rows: GEMV and f32 GEMV over [`NS`] × [`KS`].
fn gemv_against_reference<W: Format>() {
    for_each_quant_path(|path| {
        let mut seed = 0;
        for &n in &NS {
            for &k in &KS {
                seed += 1;
                let mut rng = Rng::new(seed);
                let (wf, x) = (rng.vec(n * k, 1.0), rng.vec(k, 2.0));
                let w = quantized::<W>(&wf);
                let what = format!("{path} {}", W::NAME);
                check_gemv(&w, &quantized::<W::Act>(&x), n, k, &what);
                check_gemv_f32(&w, &x, n, k, &what);
            }
        }
        // Above the parallel threshold.
        let (n, k) = (2051, 576);
        let mut rng = Rng::new(7);
        let (wf, x) = (rng.vec(n * k, 1.0), rng.vec(k, 2.0));
        let w = quantized::<W>(&wf);
        let what = format!("{path} {} large", W::NAME);
        check_gemv(&w, &quantized::<W::Act>(&x), n, k, &what);
        check_gemv_f32(&w, &x, n, k, &what);
    });
}

/// Random block bytes: every weight code, and activation bytes down to −128.
fn random_blocks_against_reference<W: Format>() {
    for_each_quant_path(|path| {
        for (seed, &(m, n, k)) in [(1, 1, 32), (1, 5, 96), (3, 4, 160), (9, 6, 576)]
            .iter()
            .enumerate()
        {
            let mut rng = Rng::new(1000 + seed as u64);
            let w = random_blocks(&mut rng, n * k / QK, W::random);
            let x = random_blocks(&mut rng, m * k / QK, W::Act::random);
            let what = format!("{path} {} random", W::NAME);
            check_gemv(&w, &x[..k / QK], n, k, &what);
            check_gemm(&w, &x, (m, n, k), &what);
            check_gemv_f32(&w, &rng.vec(k, 1.0), n, k, &what);
        }
    });
}

/// GEMM for m = 1..9, ragged n, 1 to 5 blocks; a parallel shape; and depths
/// across the 512-bit GEMM's 32-block slices of `k` (32, 33 and 97 blocks).
fn gemm_against_reference<W: Format>() {
    for_each_quant_path(|path| {
        let mut seed = 500;
        let what = format!("{path} {}", W::NAME);
        let mut case = |m: usize, n: usize, k: usize| {
            seed += 1;
            let mut rng = Rng::new(seed);
            let (wf, x) = (rng.vec(n * k, 1.0), rng.vec(m * k, 3.0));
            check_gemm(
                &quantized::<W>(&wf),
                &quantized::<W::Act>(&x),
                (m, n, k),
                &what,
            );
        };
        for m in 1..=9 {
            for n in [1, 4, 6, 17] {
                for k in [32, 96, 160] {
                    case(m, n, k);
                }
            }
        }
        case(130, 67, 576);
        case(5, 19, 1024);
        case(6, 33, 1056);
        case(9, 13, 3104);
    });
}

/// GEMV, f32 GEMV and GEMM above their parallel thresholds give the same bits
/// on 1 and 2 rayon threads, on every path.
fn results_do_not_depend_on_thread_count<W: Format>() {
    let (n, k, m) = (1027, 576, 70);
    let mut rng = Rng::new(9);
    let (wf, x) = (rng.vec(n * k, 1.0), rng.vec(m * k, 1.0));
    let (w, xq) = (quantized::<W>(&wf), quantized::<W::Act>(&x));
    let kernels = || {
        let mut y = vec![f32::NAN; n];
        let mut yf = vec![f32::NAN; n];
        let mut ym = vec![f32::NAN; m * n];
        gemv::<W>(&w, n, k, &xq[..k / QK], &mut y).unwrap();
        gemv_f32::<W>(&w, n, k, &x[..k], &mut yf).unwrap();
        gemm::<W>(&w, n, k, &xq, m, &mut ym).unwrap();
        (bits(&y), bits(&yf), bits(&ym))
    };
    // The path override is per thread: set it inside the pool.
    let run = |threads: usize, path: SimdPath, narrow: bool| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            with_path(path, || {
                if narrow {
                    with_narrow_vnni(kernels)
                } else {
                    kernels()
                }
            })
            .unwrap()
        })
    };
    for path in available_paths() {
        let narrow_too = path == SimdPath::V4;
        for narrow in [false, true].into_iter().take(1 + usize::from(narrow_too)) {
            assert!(
                run(1, path, narrow) == run(2, path, narrow),
                "{path} narrow {narrow} {}",
                W::NAME
            );
        }
    }
}

/// One test module per format.
macro_rules! format_tests {
    ($name:ident, $block:ty) => {
        mod $name {
            #[test]
            fn gemv_against_reference() {
                super::gemv_against_reference::<$block>();
            }
            #[test]
            fn random_blocks_against_reference() {
                super::random_blocks_against_reference::<$block>();
            }
            #[test]
            fn gemm_against_reference() {
                super::gemm_against_reference::<$block>();
            }
            #[test]
            fn results_do_not_depend_on_thread_count() {
                super::results_do_not_depend_on_thread_count::<$block>();
            }
        }
    };
}

format_tests!(q5_0, super::BlockQ5_0);
format_tests!(q5_1, super::BlockQ5_1);
format_tests!(iq4_nl, super::BlockIq4Nl);
