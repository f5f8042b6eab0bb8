//! Conformance suite for `gemv` (`m == 1`): every case on every SIMD path this
//! CPU has, against the f64 oracle `gemv_ref`.

mod common;

use common::{Rng, edge_lengths, for_each_path};
use proptest::prelude::*;
use smallmind_kernels::KernelError;
use smallmind_kernels::gemm::{Gemm, gemm};
use smallmind_kernels::gemv::{GEMV_PARALLEL_MIN_BYTES, gemv, gemv_ref};
use smallmind_testkit::max_scaled_diff;

/// Allowed `|c − c_ref|` per element, as a fraction of that element's magnitude bound
/// `|α|·Σₚ |xₚ|·|bₚⱼ| + |β|·|c₀ⱼ|` (f32 FMA accumulation vs f64).
/// Measured 2.0e-7 (every path: v4, v3, scalar; `cargo test -p smallmind-kernels --test gemv -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2.5×, as the proptest draws new shapes each run.
const GEMV_BOUND_TOL: f64 = 5e-7;

/// A `(1, k)·op(B)` problem: `x` stored with stride `lda` when transposed
/// (gaps NaN), `B` with row stride `k or n + pad` (gaps NaN).
struct Case {
    g: Gemm,
    a: Vec<f32>,
    b: Vec<f32>,
    c0: Vec<f32>,
}

impl Case {
    fn new(g: Gemm, pad: usize, seed: u64) -> Case {
        let mut rng = Rng::new(seed);
        let (b_rows, b_row_len) = if g.trans_b == smallmind_kernels::gemm::Transpose::Yes {
            (g.n, g.k)
        } else {
            (g.k, g.n)
        };
        let g = g.ldb(b_row_len + pad);
        // x: a (1, k) row, or a (k, 1) column with stride 1 + pad.
        let g = if g.trans_a == smallmind_kernels::gemm::Transpose::Yes {
            g.lda(1 + pad)
        } else {
            g.lda(g.k + pad)
        };
        let a_len = if g.trans_a == smallmind_kernels::gemm::Transpose::Yes {
            if g.k == 0 { 0 } else { (g.k - 1) * g.lda + 1 }
        } else {
            g.k
        };
        let mut a = vec![f32::NAN; a_len];
        for p in 0..g.k {
            let at = if g.trans_a == smallmind_kernels::gemm::Transpose::Yes {
                p * g.lda
            } else {
                p
            };
            a[at] = rng.next_f32();
        }
        let b_len = if b_rows == 0 || b_row_len == 0 {
            0
        } else {
            (b_rows - 1) * g.ldb + b_row_len
        };
        let mut b = vec![f32::NAN; b_len];
        for r in (0..b_rows).filter(|_| b_len > 0) {
            for x in &mut b[r * g.ldb..r * g.ldb + b_row_len] {
                *x = rng.next_f32();
            }
        }
        let c0 = if g.beta == 0.0 {
            vec![f32::NAN; g.n]
        } else {
            rng.vec(g.n, 1.0)
        };
        Case { g, a, b, c0 }
    }

    fn check(&self, what: &str) {
        let g = &self.g;
        let mut got = self.c0.clone();
        let mut want = self.c0.clone();
        gemv(g, &self.a, &self.b, &mut got).unwrap();
        gemv_ref(g, &self.a, &self.b, &mut want).unwrap();
        // Per element, the bound |α|·Σₚ |xₚ|·|bₚⱼ| + |β|·|c₀ⱼ| of f32 accumulation error,
        // computed by the f64 oracle on the absolute values.
        let abs = |v: &[f32]| -> Vec<f32> { v.iter().map(|x| x.abs()).collect() };
        let mut bound = abs(&self.c0);
        let g_abs = g.alpha(g.alpha.abs()).beta(g.beta.abs());
        gemv_ref(&g_abs, &abs(&self.a), &abs(&self.b), &mut bound).unwrap();
        max_scaled_diff(&got, &want, &bound)
            .assert_within(GEMV_BOUND_TOL, &format!("{what}: {g:?}"));
        // gemm routes m == 1 here: same answer.
        let mut via_gemm = self.c0.clone();
        gemm(g, &self.a, &self.b, &mut via_gemm).unwrap();
        assert_eq!(
            via_gemm.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            "{what}: gemm(m=1) differs from gemv"
        );
    }
}

fn with_trans(g: Gemm, ta: bool, tb: bool) -> Gemm {
    let g = if ta { g.transpose_a() } else { g };
    if tb { g.transpose_b() } else { g }
}

const COMBOS: [(bool, bool); 4] = [(false, false), (false, true), (true, false), (true, true)];

#[test]
fn edge_shapes_all_transposes() {
    let lens: Vec<usize> = edge_lengths().into_iter().filter(|&l| l <= 1000).collect();
    for_each_path(|path| {
        let mut seed = 0;
        for &n in &lens {
            for &k in &[0, 1, 7, 16, 17, 63, 64, 65, 300] {
                let (ta, tb) = COMBOS[seed as usize % 4];
                seed += 1;
                Case::new(with_trans(Gemm::new(1, n, k), ta, tb), 0, seed)
                    .check(&format!("{path}"));
            }
        }
    });
}

#[test]
fn large_strided_and_beta_variants() {
    for_each_path(|path| {
        for (ta, tb) in COMBOS {
            for pad in [0, 3] {
                for (alpha, beta) in [(1.0, 0.0), (-0.5, 1.0), (2.0, 0.25)] {
                    let g = with_trans(Gemm::new(1, 3001, 1100), ta, tb)
                        .alpha(alpha)
                        .beta(beta);
                    Case::new(g, pad, 9).check(&format!("{path} large pad {pad}"));
                }
            }
        }
    });
}

#[test]
fn parallel_path_in_two_thread_pool() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    // Above the parallel threshold, with ragged task blocks.
    let k = 300;
    let n = GEMV_PARALLEL_MIN_BYTES / (4 * k) * 3 + 37;
    pool.install(|| {
        for_each_path(|path| {
            for (ta, tb) in COMBOS {
                let g = with_trans(Gemm::new(1, n, k), ta, tb).beta(0.5);
                Case::new(g, 1, 4).check(&format!("{path} parallel"));
            }
        });
    });
}

#[test]
fn nan_inf_propagate() {
    for_each_path(|path| {
        for (ta, tb) in COMBOS {
            let g = with_trans(Gemm::new(1, 40, 70), ta, tb);
            let mut case = Case::new(g, 0, 2);
            case.a[3] = f32::NAN;
            let mut got = case.c0.clone();
            gemv(&case.g, &case.a, &case.b, &mut got).unwrap();
            assert!(
                got.iter().all(|x| x.is_nan()),
                "{path}: NaN in x reaches every output"
            );
            let mut case = Case::new(g, 0, 3);
            let first_col = if tb { 5 * 70 } else { 5 };
            case.b[first_col] = f32::INFINITY; // B[p=0, j=5]
            case.a[0] = 1.0;
            let last = case.b.len() - 1;
            case.b[last] = 1e-40;
            let mut got = case.c0.clone();
            let mut want = case.c0.clone();
            gemv(&case.g, &case.a, &case.b, &mut got).unwrap();
            gemv_ref(&case.g, &case.a, &case.b, &mut want).unwrap();
            assert_eq!(got[5], f32::INFINITY, "{path}");
            assert!(
                got.iter()
                    .zip(&want)
                    .all(|(x, y)| x.is_finite() == y.is_finite()),
                "{path}"
            );
        }
    });
}

#[test]
fn zero_dimensions() {
    for_each_path(|_| {
        let mut c = vec![f32::NAN, 3.0];
        gemv(&Gemm::new(1, 2, 0), &[], &[], &mut c).unwrap();
        assert_eq!(c, [0.0, 0.0]);
        let mut c = vec![2.0, 3.0];
        gemv(&Gemm::new(1, 2, 0).beta(2.0), &[], &[], &mut c).unwrap();
        assert_eq!(c, [4.0, 6.0]);
        gemv(&Gemm::new(1, 0, 4), &[0.0; 4], &[], &mut []).unwrap();
    });
}

#[test]
fn validation_errors_are_returned() {
    let g = Gemm::new(1, 5, 6);
    let (a, b, mut c) = (vec![0.0; 6], vec![0.0; 30], vec![0.0; 5]);
    assert!(gemv(&g, &a, &b, &mut c).is_ok());
    assert_eq!(
        gemv(&Gemm::new(2, 5, 6), &a, &b, &mut c),
        Err(KernelError::InvalidDimension {
            op: "gemv",
            dim: "m",
            value: 2,
            reason: "gemv needs m == 1"
        })
    );
    assert!(matches!(
        gemv_ref(&Gemm::new(0, 5, 6), &a, &b, &mut c),
        Err(KernelError::InvalidDimension { .. })
    ));
    assert_eq!(
        gemv(&g, &a[..5], &b, &mut c),
        Err(KernelError::BufferTooSmall {
            op: "gemv",
            operand: "a",
            required: 6,
            actual: 5
        })
    );
    assert_eq!(
        gemv(&g, &a, &b[..29], &mut c),
        Err(KernelError::BufferTooSmall {
            op: "gemv",
            operand: "b",
            required: 30,
            actual: 29
        })
    );
    assert_eq!(
        gemv(&g, &a, &b, &mut c[..4]),
        Err(KernelError::BufferTooSmall {
            op: "gemv",
            operand: "c",
            required: 5,
            actual: 4
        })
    );
    assert_eq!(
        gemv(&g.transpose_b().ldb(5), &a, &b, &mut c),
        Err(KernelError::LeadingDimension {
            op: "gemv",
            operand: "b",
            ld: 5,
            row_len: 6
        })
    );
    assert_eq!(
        gemv(&g.transpose_a().lda(0), &a, &b, &mut c),
        Err(KernelError::LeadingDimension {
            op: "gemv",
            operand: "a",
            ld: 0,
            row_len: 1
        })
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn matches_reference(
        n in 0usize..300, k in 0usize..300,
        ta in any::<bool>(), tb in any::<bool>(), pad in 0usize..4,
        alpha in prop_oneof![Just(1.0f32), -2.0f32..2.0],
        beta in prop_oneof![Just(0.0f32), Just(1.0f32), -2.0f32..2.0],
        seed in any::<u64>(),
    ) {
        let g = with_trans(Gemm::new(1, n, k), ta, tb).alpha(alpha).beta(beta);
        let case = Case::new(g, pad, seed);
        for_each_path(|path| case.check(&format!("{path} proptest")));
    }
}
