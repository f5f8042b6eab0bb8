//! Conformance suite of the K-quant formats added to the registry after Q4_K/Q6_K (Q5_K,
//! Q3_K, Q2_K, IQ4_XS, IQ3_S, IQ2_XS, IQ3_XXS,
//! IQ2_XXS, IQ2_S): GEMV, dot, GEMM (m = 1..9) and f32-activation GEMV on
//! every SIMD path (and 256-bit VNNI on V4) against the f64 oracles, and results that do not
//! depend on the rayon thread count. Their ggml bit-exactness (dequantize, quantize, the
//! scalar dot) is `tests/formats.rs`'s.

// Outputs are checked row by row against several parallel arrays.
#![allow(clippy::needless_range_loop)]

mod common;

use std::cell::Cell;

use common::{Rng, for_each_quant_path};
use smallmind_kernels::quant::formats::SubBlocks;
use smallmind_kernels::quant::{
    BlockFormat, BlockQ8K, QK_K, WeightFormat, dequantize, dot, dot_ref, gemm, gemm_ref, gemv,
    gemv_f32, gemv_f32_ref, gemv_ref, quantize, quantize_ref,
};
use smallmind_testkit::{Worst, max_scaled_diff};

/// The quantized paths vs their oracles, relative to `(nb + 8)·Σ_j t_j·|x̂_j|` with `t_j` the
/// magnitude each weight brings into the integer sums ([`KFormat::terms`]): f32 scale
/// products, lane conversions and sums; the integer sums are exact (see the `kblock` docs).
/// Measured 3.3e-9 (IQ4_XS, whose scalar dot scales each sub-block; the others ≤ 2.1e-9; the
/// documented bound is of order 2⁻²³ ≈ 1.2e-7) (every path: v4, v4-narrow, v3, scalar;
/// `cargo test -p smallmind-kernels --test kformats -- --nocapture`, Intel Xeon Ice Lake,
/// 2026-12-07): about 2.4×.
const INT_PATH_TOL: f64 = 8e-9;
/// The f32-activation GEMV vs its oracle, as a fraction of `Σ |w·x|`.
/// Measured 1.26e-7 (IQ2_XXS, AMD EPYC Zen 5; Q2_K 1.07e-7; same command): about 3.2×.
const F32_PATH_TOL: f64 = 4e-7;

/// A K-quant under test: its integer view, as the tests need it.
trait KFormat: WeightFormat<Act = BlockQ8K> {
    /// The offset the SIMD tiles add to the quants (0 without).
    const OFFSET: f64;
    /// Per weight: `|d·sc|·(|q| + OFFSET) + 2·|dmin·mn|`.
    fn terms(&self) -> [f64; QK_K];
}

fn view_terms<const S: usize>(v: &SubBlocks<S>, offset: f64) -> [f64; QK_K] {
    let sub = QK_K / S;
    std::array::from_fn(|j| {
        let s = j / sub;
        let scale = (f64::from(v.d) * f64::from(v.scales[s])).abs();
        let min = (f64::from(v.dmin) * f64::from(v.mins[s])).abs();
        scale * (f64::from(v.q[j]).abs() + offset) + 2.0 * min
    })
}

macro_rules! k_format {
    ($block:ty, $offset:expr) => {
        impl KFormat for $block {
            const OFFSET: f64 = $offset;
            fn terms(&self) -> [f64; QK_K] {
                view_terms(&self.sub_blocks(), Self::OFFSET)
            }
        }
    };
}

fn q8k(x: &[f32]) -> Vec<BlockQ8K> {
    let mut out = vec![BlockQ8K::default(); x.len() / QK_K];
    quantize::<BlockQ8K>(x, &mut out).unwrap();
    out
}

/// Weights with uneven sub-block ranges and an offset, so scales and mins vary.
fn weights(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..len)
        .map(|i| {
            let band = 0.2 + ((i / 16) % 7) as f32 * 0.3;
            rng.next_f32() * band + 0.1 * ((i / 32) % 3) as f32
        })
        .collect()
}

/// `n` rows of `k` weights of format `B`, quantized by `B`'s reference quantizer (or, for a
/// format without one, whatever its `quantize_block` makes), and the dequantized rows.
fn case<B: KFormat>(n: usize, k: usize, seed: u64) -> (Vec<B>, Vec<f32>) {
    let wf = weights(n * k, seed);
    let mut w = vec![B::default(); n * k / QK_K];
    quantize_ref::<B>(&wf, &mut w).unwrap();
    let mut deq = vec![0.0; n * k];
    dequantize::<B>(&w, &mut deq).unwrap();
    (w, deq)
}

/// `Σ_j t_j·|x̂_j|` over row `j` (blocks `w_row`).
fn abs_terms<B: KFormat>(w_row: &[B], x: &[BlockQ8K]) -> f64 {
    w_row
        .iter()
        .zip(x)
        .map(|(wb, xb)| {
            wb.terms()
                .iter()
                .zip(&xb.qs)
                .map(|(&t, &q)| t * (f64::from(xb.d) * f64::from(q)).abs())
                .sum::<f64>()
        })
        .sum()
}

thread_local! {
    /// The largest error this test thread saw, in units of its tolerance's scale.
    static WORST: Cell<f64> = const { Cell::new(0.0) };
}

/// Notes `worst` and checks it against `tol`.
fn check(worst: Worst, tol: f64, what: &str) {
    WORST.with(|w| w.set(w.get().max(worst.error)));
    worst.assert_within(tol, what);
}

/// Prints the largest error seen (`--nocapture` shows it; the tolerances' docs quote it).
fn report(test: &str, name: &str) {
    eprintln!("{name} {test}: worst {:.2e}", WORST.with(Cell::get));
}

fn assert_int_close(got: f32, want: f32, terms: f64, nb: usize, what: &str) {
    let scale = (nb + 8) as f64 * terms;
    check(
        max_scaled_diff(&[f64::from(got)], &[f64::from(want)], &[scale]),
        INT_PATH_TOL,
        what,
    );
}

const KS: [usize; 3] = [256, 512, 1536];
const NS: [usize; 6] = [1, 2, 3, 4, 5, 17];

fn gemv_and_dot_against_reference<B: KFormat>() {
    for k in KS {
        let nb = k / QK_K;
        for n in NS {
            let (w, _) = case::<B>(n, k, (n * k) as u64);
            let x = q8k(&Rng::new(k as u64 + 3).vec(k, 2.0));
            let mut want = vec![f32::NAN; n];
            gemv_ref::<B>(&w, n, k, &x, &mut want).unwrap();
            for_each_quant_path(|path| {
                let mut got = vec![f32::NAN; n];
                gemv::<B>(&w, n, k, &x, &mut got).unwrap();
                for j in 0..n {
                    let row = &w[j * nb..][..nb];
                    let what = format!("{path} {} gemv n {n} k {k} row {j}", B::NAME);
                    assert_int_close(got[j], want[j], abs_terms(row, &x), nb, &what);
                }
                let row = &w[..nb];
                let (got, want) = (dot::<B>(row, &x).unwrap(), dot_ref::<B>(row, &x).unwrap());
                let what = format!("{path} {} dot k {k}", B::NAME);
                assert_int_close(got, want, abs_terms(row, &x), nb, &what);
            });
        }
    }
}

fn gemm_against_reference_and_gemv_rows<B: KFormat>() {
    for m in 1..=9 {
        for (n, k) in [(3, 256), (9, 512), (5, 1536)] {
            let nb = k / QK_K;
            let (w, _) = case::<B>(n, k, (m + n + k) as u64);
            let x = q8k(&Rng::new(m as u64).vec(m * k, 1.5));
            let mut want = vec![f32::NAN; m * n];
            gemm_ref::<B>(&w, n, k, &x, m, &mut want).unwrap();
            for_each_quant_path(|path| {
                let mut got = vec![f32::NAN; m * n];
                gemm::<B>(&w, n, k, &x, m, &mut got).unwrap();
                for i in 0..m {
                    let xi = &x[i * nb..][..nb];
                    let mut row = vec![f32::NAN; n];
                    gemv::<B>(&w, n, k, xi, &mut row).unwrap();
                    for j in 0..n {
                        let what = format!("{path} {} gemm m {m} n {n} k {k} ({i}, {j})", B::NAME);
                        let terms = abs_terms(&w[j * nb..][..nb], xi);
                        assert_int_close(got[i * n + j], want[i * n + j], terms, nb, &what);
                        assert_int_close(got[i * n + j], row[j], terms, nb, &what);
                    }
                }
            });
        }
    }
}

fn gemv_f32_against_reference<B: KFormat>() {
    for k in KS {
        for n in [1, 4, 6] {
            let (w, deq) = case::<B>(n, k, (3 * n + k) as u64);
            let x = Rng::new(k as u64).vec(k, 3.0);
            let mut want = vec![f32::NAN; n];
            gemv_f32_ref::<B>(&w, n, k, &x, &mut want).unwrap();
            let bound: Vec<f64> = (0..n)
                .map(|j| {
                    deq[j * k..][..k]
                        .iter()
                        .zip(&x)
                        .map(|(&a, &b)| (f64::from(a) * f64::from(b)).abs())
                        .sum()
                })
                .collect();
            let want: Vec<f64> = want.iter().map(|&v| f64::from(v)).collect();
            for_each_quant_path(|path| {
                let mut got = vec![f32::NAN; n];
                gemv_f32::<B>(&w, n, k, &x, &mut got).unwrap();
                let got: Vec<f64> = got.iter().map(|&v| f64::from(v)).collect();
                check(
                    max_scaled_diff(&got, &want, &bound),
                    F32_PATH_TOL,
                    &format!("{path} {} gemv_f32 n {n} k {k}", B::NAME),
                );
            });
        }
    }
}

/// GEMM, GEMV and the f32 GEMV on shapes large enough to split give the same bits on 1 and
/// 2 rayon threads, on every path.
fn results_do_not_depend_on_threads<B: KFormat>() {
    let (m, n, k) = (11, 1536, 1536);
    let (w, _) = case::<B>(n, k, 99);
    let xf = Rng::new(8).vec(m * k, 1.0);
    let x = q8k(&xf);
    for_each_quant_path(|path| {
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut y = vec![f32::NAN; m * n];
                gemm::<B>(&w, n, k, &x, m, &mut y).unwrap();
                let mut v = vec![f32::NAN; n];
                gemv::<B>(&w, n, k, &x[..k / QK_K], &mut v).unwrap();
                let mut f = vec![f32::NAN; n];
                gemv_f32::<B>(&w, n, k, &xf[..k], &mut f).unwrap();
                [y, v, f].map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>())
            })
        };
        let one = run(1);
        let finite = one.iter().flatten().all(|&b| f32::from_bits(b).is_finite());
        assert!(finite, "{path} {}: a non-finite output", B::NAME);
        assert!(one == run(2), "{path} {}: 1 vs 2 threads", B::NAME);
    });
}

macro_rules! format_tests {
    ($name:ident, $block:ty, $offset:expr) => {
        k_format!($block, $offset);

        mod $name {
            use super::*;

            #[test]
            fn gemv_and_dot_against_reference() {
                super::gemv_and_dot_against_reference::<$block>();
                super::report(
                    "gemv_and_dot_against_reference",
                    <$block as BlockFormat>::NAME,
                );
            }

            #[test]
            fn gemm_against_reference_and_gemv_rows() {
                super::gemm_against_reference_and_gemv_rows::<$block>();
                super::report(
                    "gemm_against_reference_and_gemv_rows",
                    <$block as BlockFormat>::NAME,
                );
            }

            #[test]
            fn gemv_f32_against_reference() {
                super::gemv_f32_against_reference::<$block>();
                super::report("gemv_f32_against_reference", <$block as BlockFormat>::NAME);
            }

            #[test]
            fn results_do_not_depend_on_threads() {
                super::results_do_not_depend_on_threads::<$block>();
            }
        }
    };
}

use smallmind_kernels::quant::formats::{
    BlockIq2S, BlockIq2Xs, BlockIq2Xxs, BlockIq3S, BlockIq3Xxs, BlockIq4Xs, BlockQ2K, BlockQ3K,
    BlockQ5K,
};
format_tests!(q5_k, BlockQ5K, 0.0);
format_tests!(q3_k, BlockQ3K, 4.0);
format_tests!(q2_k, BlockQ2K, 0.0);
format_tests!(iq4_xs, BlockIq4Xs, 0.0);
format_tests!(iq3_s, BlockIq3S, 16.0);
format_tests!(iq2_xs, BlockIq2Xs, 43.0);
format_tests!(iq3_xxs, BlockIq3Xxs, 62.0);
format_tests!(iq2_xxs, BlockIq2Xxs, 43.0);
format_tests!(iq2_s, BlockIq2S, 43.0);
