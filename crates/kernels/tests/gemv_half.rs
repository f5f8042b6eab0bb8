//! Conformance suite for `gemv_bf16` and `gemv_f16` (16-bit weights widened in
//! place, f32 accumulation): every case on every SIMD path this CPU has,
//! against the f64 oracle `gemv_half_ref`.

mod common;

use common::{Rng, for_each_path};
use proptest::prelude::*;
use smallmind_kernels::KernelError;
use smallmind_kernels::gemv_half::{
    GEMV_HALF_PARALLEL_MIN_BYTES, bf16, f16, gemv_bf16, gemv_f16, gemv_half_ref,
};
use smallmind_testkit::max_scaled_diff;

/// Allowed `|y[j] - y_ref[j]|` as a fraction of `Σₚ |x[p]·w[j, p]|` (an f32
/// dot product of length ≤ 1536 with a few independent accumulators stays far
/// below `k·2⁻²⁴` of that sum).
/// Measured 2.1e-7 (every path: v4, v3, scalar; `cargo test -p smallmind-kernels --test gemv_half -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2.5×, as the proptest draws new shapes each run.
const GEMV_HALF_BOUND_TOL: f64 = 5e-7;

/// Row counts and depths every shape test covers.
const DIMS: [usize; 15] = [0, 1, 2, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65, 576, 1536];

/// The two kernels under one signature, on raw 16-bit patterns.
#[derive(Clone, Copy, Debug)]
enum Format {
    Bf16,
    F16,
}

const FORMATS: [Format; 2] = [Format::Bf16, Format::F16];

type Kernel = fn(&[f32], &[u16], usize, usize, &mut [f32], &mut [f32]) -> Result<(), KernelError>;

impl Format {
    fn encode(self, v: f32) -> u16 {
        match self {
            Format::Bf16 => bf16::from_f32(v).to_bits(),
            Format::F16 => f16::from_f32(v).to_bits(),
        }
    }

    fn decode(self, bits: u16) -> f32 {
        match self {
            Format::Bf16 => bf16::from_bits(bits).to_f32(),
            Format::F16 => f16::from_bits(bits).to_f32(),
        }
    }

    /// (fast, reference).
    fn kernels(self) -> (Kernel, Kernel) {
        match self {
            Format::Bf16 => (
                |x, w, n, k, s, y| gemv_bf16(x, bytemuck::cast_slice(w), n, k, s, y),
                |x, w, n, k, s, y| gemv_half_ref::<bf16>(x, bytemuck::cast_slice(w), n, k, s, y),
            ),
            Format::F16 => (
                |x, w, n, k, s, y| gemv_f16(x, bytemuck::cast_slice(w), n, k, s, y),
                |x, w, n, k, s, y| gemv_half_ref::<f16>(x, bytemuck::cast_slice(w), n, k, s, y),
            ),
        }
    }
}

/// Runs the fast kernel and the oracle on `(x, w)` and checks every output
/// against `GEMV_HALF_BOUND_TOL`; NaN must match NaN, infinities exactly.
fn check(format: Format, x: &[f32], w: &[u16], n: usize, k: usize, what: &str) -> Vec<f32> {
    let (fast, oracle) = format.kernels();
    let mut scratch = vec![f32::NAN; k + 3];
    let mut got = vec![f32::NAN; n];
    let mut want = vec![f32::NAN; n];
    fast(x, w, n, k, &mut scratch, &mut got).unwrap();
    oracle(x, w, n, k, &mut scratch, &mut want).unwrap();
    let bound: Vec<f64> = (0..n)
        .map(|j| {
            (0..k)
                .map(|p| (f64::from(x[p]) * f64::from(format.decode(w[j * k + p]))).abs())
                .sum()
        })
        .collect();
    // Some cases feed NaN on purpose: it must land exactly where the oracle puts it; the
    // other outputs are compared as usual (a NaN among them would fail).
    for (j, (g, e)) in got.iter().zip(&want).enumerate() {
        assert_eq!(
            g.is_nan(),
            e.is_nan(),
            "{what}: {format:?} n {n} k {k}: NaN pattern at {j}"
        );
    }
    let not_nan = |v: &[f32]| -> Vec<f64> {
        v.iter()
            .zip(&want)
            .map(|(&y, e)| if e.is_nan() { 0.0 } else { f64::from(y) })
            .collect()
    };
    max_scaled_diff(&not_nan(&got), &not_nan(&want), &bound).assert_within(
        GEMV_HALF_BOUND_TOL,
        &format!("{what}: {format:?} n {n} k {k}"),
    );
    got
}

fn random_case(format: Format, n: usize, k: usize, seed: u64) -> (Vec<f32>, Vec<u16>) {
    let mut rng = Rng::new(seed);
    let x = rng.vec(k, 1.0);
    let w = (0..n * k).map(|_| format.encode(rng.next_f32())).collect();
    (x, w)
}

#[test]
fn all_shapes_against_reference() {
    for_each_path(|path| {
        for format in FORMATS {
            let mut seed = 1;
            for &n in &DIMS {
                for &k in &DIMS {
                    seed += 1;
                    let (x, w) = random_case(format, n, k, seed);
                    check(format, &x, &w, n, k, &format!("{path}"));
                }
            }
        }
    });
}

/// Weights starting on an odd 16-bit boundary (rows never 4-byte aligned),
/// with even and odd depths.
#[test]
fn unaligned_weight_slices() {
    for_each_path(|path| {
        for format in FORMATS {
            for (n, k) in [(7, 64), (5, 65), (33, 576), (4, 1536), (65, 17)] {
                let (x, w) = random_case(format, n, k + 1, (n * k) as u64);
                let w = &w[..n * k + 1];
                check(format, &x[..k], &w[1..], n, k, &format!("{path} unaligned"));
            }
        }
    });
}

/// Every 16-bit pattern, at every position of a row (inside the SIMD blocks
/// and in the tail), widens exactly: a one-hot `x` selects one weight per row.
/// Inf and NaN patterns are replaced by zero here (0·inf would be NaN); they
/// have their own test.
#[test]
fn every_bit_pattern_widens_exactly() {
    let k = 37;
    let n = (1usize << 16).div_ceil(k);
    for format in FORMATS {
        let w: Vec<u16> = (0..n * k)
            .map(|i| {
                let bits = (i % (1 << 16)) as u16;
                if format.decode(bits).is_finite() {
                    bits
                } else {
                    0
                }
            })
            .collect();
        for_each_path(|path| {
            let (fast, _) = format.kernels();
            let mut scratch = vec![0.0f32; k];
            let mut y = vec![0.0f32; n];
            for q in 0..k {
                let mut x = vec![0.0f32; k];
                x[q] = 1.0;
                fast(&x, &w, n, k, &mut scratch, &mut y).unwrap();
                for j in 0..n {
                    let want = format.decode(w[j * k + q]);
                    assert_eq!(y[j], want, "{path} {format:?}: w[{j}, {q}]");
                }
            }
        });
    }
}

/// NaN and ±inf in the weights or in `x`, both inside a SIMD block and in the
/// row tail, propagate as IEEE arithmetic says.
#[test]
fn nan_and_inf_propagate() {
    let (n, k) = (6, 69);
    for_each_path(|path| {
        for format in FORMATS {
            for at in [0, 5, 31, 40, 66, 68] {
                let mut rng = Rng::new(at as u64);
                let x: Vec<f32> = (0..k).map(|_| 0.25 + 0.5 * rng.next_f32().abs()).collect();
                let mut w: Vec<u16> = (0..n * k).map(|_| format.encode(rng.next_f32())).collect();
                w[at] = format.encode(f32::NAN);
                w[k + at] = format.encode(f32::INFINITY);
                w[2 * k + at] = format.encode(f32::NEG_INFINITY);
                w[3 * k + at] = format.encode(f32::INFINITY);
                w[3 * k + (at + 1) % k] = format.encode(f32::NEG_INFINITY);
                let y = check(format, &x, &w, n, k, &format!("{path} specials at {at}"));
                assert!(y[0].is_nan(), "{path} {format:?} NaN weight");
                assert_eq!(y[1], f32::INFINITY, "{path} {format:?} +inf weight");
                assert_eq!(y[2], f32::NEG_INFINITY, "{path} {format:?} -inf weight");
                assert!(y[3].is_nan(), "{path} {format:?} inf - inf");
                assert!(y[4].is_finite() && y[5].is_finite());

                let mut x_nan = x.clone();
                x_nan[at] = f32::NAN;
                let y = check(format, &x_nan, &w, n, k, &format!("{path} NaN x at {at}"));
                assert!(y.iter().all(|v| v.is_nan()), "{path} {format:?} NaN x");
            }
        }
    });
}

/// Above the parallel threshold, a 2-thread pool gives bit-identical rows
/// (each row is computed by one task, in the same order).
#[test]
fn parallel_matches_serial() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let serial = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    for (n, k) in [(1537, 577), (3001, 768)] {
        assert!(n * k * 2 >= GEMV_HALF_PARALLEL_MIN_BYTES);
        for format in FORMATS {
            let (x, w) = random_case(format, n, k, 99);
            for path in smallmind_kernels::available_paths() {
                let run = |pool: &rayon::ThreadPool| {
                    pool.install(|| {
                        smallmind_kernels::with_path(path, || {
                            check(format, &x, &w, n, k, &format!("{path} pool"))
                        })
                        .unwrap()
                    })
                };
                let two = run(&pool);
                let one = run(&serial);
                assert_eq!(
                    two.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    one.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    "{path} {format:?}"
                );
            }
        }
    }
}

#[test]
fn k_zero_gives_zeros_and_scratch_may_be_longer() {
    for format in FORMATS {
        let (fast, oracle) = format.kernels();
        for kernel in [fast, oracle] {
            let mut y = vec![f32::NAN; 3];
            kernel(&[], &[], 3, 0, &mut [], &mut y).unwrap();
            assert_eq!(y, [0.0; 3]);
            let mut y: [f32; 0] = [];
            kernel(&[1.0; 4], &[], 0, 4, &mut [0.0; 4], &mut y).unwrap();
        }
    }
}

#[test]
fn bad_lengths_are_errors() {
    for format in FORMATS {
        let (fast, oracle) = format.kernels();
        for kernel in [fast, oracle] {
            let w = vec![0u16; 12];
            let x = [1.0f32; 4];
            let mut s = [0.0f32; 4];
            let mut y = [0.0f32; 3];
            assert!(kernel(&x, &w, 3, 4, &mut s, &mut y).is_ok());
            assert!(matches!(
                kernel(&x[..3], &w, 3, 4, &mut s, &mut y),
                Err(KernelError::LengthMismatch { operand: "x", .. })
            ));
            assert!(matches!(
                kernel(&x, &w[..11], 3, 4, &mut s, &mut y),
                Err(KernelError::LengthMismatch { operand: "w", .. })
            ));
            assert!(matches!(
                kernel(&x, &w, 3, 4, &mut s, &mut y[..2]),
                Err(KernelError::LengthMismatch { operand: "y", .. })
            ));
            assert!(matches!(
                kernel(&x, &w, 3, 4, &mut s[..3], &mut y),
                Err(KernelError::BufferTooSmall {
                    operand: "x_split",
                    required: 4,
                    actual: 3,
                    ..
                })
            ));
            assert!(matches!(
                kernel(&x, &w, usize::MAX, 4, &mut s, &mut y),
                Err(KernelError::SizeOverflow { operand: "w", .. })
            ));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_shapes_match_reference(
        n in 0usize..40,
        k in 0usize..300,
        offset in 0usize..2,
        seed in any::<u64>(),
        scale in prop_oneof![Just(1e-3f32), Just(1.0f32), Just(100.0f32)],
    ) {
        for_each_path(|path| {
            for format in FORMATS {
                let mut rng = Rng::new(seed);
                let x = rng.vec(k, scale);
                let w: Vec<u16> = (0..n * k + offset)
                    .map(|_| format.encode(rng.next_f32() * scale))
                    .collect();
                check(format, &x, &w[offset..], n, k, &format!("{path} proptest"));
            }
        });
    }
}

/// Matrices of `STREAM_ROWS_MIN_BYTES` or more are read one row at a time:
/// the same results, with a ragged tail and an odd depth.
#[test]
fn matrices_above_the_streaming_size() {
    for_each_path(|path| {
        for format in FORMATS {
            for (n, k) in [(1400, 577), (1403, 576)] {
                assert!(2 * n * k >= smallmind_kernels::gemv::STREAM_ROWS_MIN_BYTES);
                let (x, w) = random_case(format, n, k, (n + k) as u64);
                check(format, &x, &w, n, k, &format!("{path} streaming"));
            }
        }
    });
}
