//! Conformance suite for `gemm`: every case on every SIMD path this CPU has,
//! against the f64 oracle `gemm_ref`.

mod common;

use common::{Rng, fixture, for_each_path};
use proptest::prelude::*;
use smallmind_kernels::KernelError;
use smallmind_kernels::gemm::{Gemm, Transpose, gemm, gemm_ref, params};
use smallmind_testkit::{max_rel_diff, max_scaled_diff};

/// Allowed `|C − C_ref|` per element, as a fraction of that element's magnitude bound
/// `|α|·Σₚ |aᵢₚ|·|bₚⱼ| + |β|·|C₀ᵢⱼ|` (f32 FMA accumulation vs f64).
/// Measured 3.1e-7 (every path: v4, v3, scalar; `cargo test -p smallmind-kernels --test gemm -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 3×, as the proptest draws new shapes each run.
const GEMM_BOUND_TOL: f64 = 1e-6;
/// `matmul_c` fixture (computed in f64 by PyTorch), `|a − b| / max(1, |b|)`.
/// Measured 4.7e-6 (every path: v4, v3, scalar; `cargo test -p smallmind-kernels --test gemm -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const FIXTURE_REL_TOL: f64 = 1e-5;

/// Value written into the gaps of C between rows; must survive untouched.
const C_SENTINEL: f32 = 12345.5;

/// One test problem: stored operands (gaps filled with NaN for A and B, with
/// `C_SENTINEL` for C) and the initial C.
struct Case {
    g: Gemm,
    a: Vec<f32>,
    b: Vec<f32>,
    c0: Vec<f32>,
}

fn stored_len(rows: usize, row_len: usize, ld: usize) -> usize {
    if rows == 0 || row_len == 0 {
        0
    } else {
        (rows - 1) * ld + row_len
    }
}

/// Fills a `(rows, row_len)` matrix with row stride `ld`: values from `rng`,
/// gaps with `gap`.
fn strided(rng: &mut Rng, rows: usize, row_len: usize, ld: usize, gap: f32) -> Vec<f32> {
    let mut out = vec![gap; stored_len(rows, row_len, ld)];
    if out.is_empty() {
        return out;
    }
    for r in 0..rows {
        for x in &mut out[r * ld..r * ld + row_len] {
            *x = rng.next_f32();
        }
    }
    out
}

fn shape(rows_cols: (usize, usize), trans: Transpose) -> (usize, usize) {
    match trans {
        Transpose::No => rows_cols,
        Transpose::Yes => (rows_cols.1, rows_cols.0),
    }
}

impl Case {
    /// `g`'s operands with random data; `pad` is added to every leading
    /// dimension (0 = contiguous).
    fn new(g: Gemm, pad: usize, seed: u64) -> Case {
        let (ar, ac) = shape((g.m, g.k), g.trans_a);
        let (br, bc) = shape((g.k, g.n), g.trans_b);
        let g = g.lda(ac + pad).ldb(bc + pad).ldc(g.n + pad);
        let mut rng = Rng::new(seed);
        let a = strided(&mut rng, ar, ac, g.lda, f32::NAN);
        let b = strided(&mut rng, br, bc, g.ldb, f32::NAN);
        let mut c0 = strided(&mut rng, g.m, g.n, g.ldc, C_SENTINEL);
        if g.beta == 0.0 {
            // Write-only C: NaN must not leak.
            for r in 0..g.m {
                if let Some(row) = c0.get_mut(r * g.ldc..r * g.ldc + g.n) {
                    row.fill(f32::NAN);
                }
            }
        }
        Case { g, a, b, c0 }
    }

    /// Runs `gemm` and checks it against `gemm_ref`, gaps included.
    fn check(&self, what: &str) {
        let g = &self.g;
        let mut got = self.c0.clone();
        let mut want = self.c0.clone();
        gemm(g, &self.a, &self.b, &mut got).unwrap();
        gemm_ref(g, &self.a, &self.b, &mut want).unwrap();
        // Per element, the bound |α|·Σₚ |aᵢₚ|·|bₚⱼ| + |β|·|c₀ᵢⱼ| of f32 accumulation
        // error (Higham, "Accuracy and Stability of Numerical Algorithms", §3.5), computed by
        // the f64 oracle on the absolute values; the gaps keep their sentinel.
        let abs = |v: &[f32]| -> Vec<f32> { v.iter().map(|x| x.abs()).collect() };
        let mut bound = abs(&self.c0);
        let g_abs = g.alpha(g.alpha.abs()).beta(g.beta.abs());
        gemm_ref(&g_abs, &abs(&self.a), &abs(&self.b), &mut bound).unwrap();
        for (i, x) in got.iter().enumerate() {
            let in_gap = g.ldc > 0 && i % g.ldc >= g.n;
            if in_gap {
                assert_eq!(
                    x.to_bits(),
                    C_SENTINEL.to_bits(),
                    "{what}: {g:?} wrote C gap at {i}"
                );
            }
        }
        max_scaled_diff(&got, &want, &bound)
            .assert_within(GEMM_BOUND_TOL, &format!("{what}: {g:?}"));
    }
}

fn with_trans(g: Gemm, ta: bool, tb: bool) -> Gemm {
    let g = if ta { g.transpose_a() } else { g };
    if tb { g.transpose_b() } else { g }
}

const COMBOS: [(bool, bool); 4] = [(false, false), (false, true), (true, false), (true, true)];

#[test]
fn edge_shapes_all_transposes() {
    let dims = [
        0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65,
    ];
    let depths = [0, 1, 5, 16, 17, 65];
    for_each_path(|path| {
        let mut seed = 0;
        for &m in &dims {
            for &n in &dims {
                for &k in &depths {
                    let (ta, tb) = COMBOS[seed as usize % 4];
                    seed += 1;
                    let g = with_trans(Gemm::new(m, n, k), ta, tb);
                    Case::new(g, 0, seed).check(&format!("{path}"));
                }
            }
        }
    });
}

#[test]
fn large_all_transposes_and_odd_leading_dims() {
    for_each_path(|path| {
        for (ta, tb) in COMBOS {
            for pad in [0, 3] {
                let g = with_trans(Gemm::new(300, 257, 515), ta, tb).beta(0.5);
                Case::new(g, pad, 7).check(&format!("{path} large pad {pad}"));
            }
        }
    });
}

/// Transposed B whose source rows span more than L2 (`n·ldb` > 2¹⁸ floats),
/// in both loop orders.
#[test]
fn large_transposed_b_wide_source() {
    for_each_path(|path| {
        for (m, n, k) in [(40, 600, 520), (500, 530, 531)] {
            for pad in [0, 3] {
                let g = Gemm::new(m, n, k).transpose_b().beta(0.5);
                Case::new(g, pad, 11).check(&format!("{path} bt wide {m}x{n}x{k} pad {pad}"));
            }
        }
    });
}

#[test]
fn odd_leading_dims_keep_gaps() {
    for_each_path(|path| {
        for (ta, tb) in COMBOS {
            for &(m, n, k) in &[(5, 7, 3), (33, 17, 65), (64, 65, 63), (13, 100, 250)] {
                for pad in [1, 5, 16] {
                    let g = with_trans(Gemm::new(m, n, k), ta, tb).beta(1.0);
                    Case::new(g, pad, pad as u64).check(&format!("{path} pad {pad}"));
                }
            }
        }
    });
}

#[test]
fn alpha_beta_variants() {
    for_each_path(|path| {
        for alpha in [1.0, -0.5, 2.0, 0.0] {
            for beta in [0.0, 1.0, 0.25, -1.0] {
                for &(m, n, k) in &[(9, 17, 33), (70, 90, 130)] {
                    for (ta, tb) in COMBOS {
                        let g = with_trans(Gemm::new(m, n, k), ta, tb)
                            .alpha(alpha)
                            .beta(beta);
                        Case::new(g, 2, 3).check(&format!("{path} α {alpha} β {beta}"));
                    }
                }
            }
        }
    });
}

#[test]
fn zero_dimensions_only_scale_c() {
    for_each_path(|_| {
        // k == 0: C = β·C; β == 0 clears NaN.
        let mut c = vec![2.0, f32::NAN, 4.0, 8.0];
        gemm(&Gemm::new(2, 2, 0).beta(0.5), &[], &[], &mut c).unwrap();
        assert!(c[1].is_nan());
        assert_eq!([c[0], c[2], c[3]], [1.0, 2.0, 4.0]);
        let mut c = vec![f32::NAN; 4];
        gemm(&Gemm::new(2, 2, 0), &[], &[], &mut c).unwrap();
        assert_eq!(c, [0.0; 4]);
        // m == 0 or n == 0: nothing to do, empty buffers are fine.
        gemm(&Gemm::new(0, 5, 3), &[], &[0.0; 15], &mut []).unwrap();
        gemm(&Gemm::new(4, 0, 3), &[0.0; 12], &[], &mut []).unwrap();
    });
}

#[test]
fn blocking_boundaries() {
    let (kc, mc, nc) = (params::KC, params::MC, params::NC);
    let shapes = [
        (20, 40, kc - 1),
        (20, 40, kc),
        (20, 40, kc + 1),
        (2 * kc + 1, 3, 2 * kc + 1),
        (mc - 1, 40, 90),
        (mc + 1, 40, 90),
        (2 * mc + 3, 33, 70),
        (9, nc + 1, 70),
        (3, nc + 17, 41),
        // The small-`m` loop order: k in one block, k just past it, ragged
        // B chunks.
        (mc, 97, params::KC_SMALL_M_MAX),
        (37, params::NC_SMALL_M + 3, params::KC_SMALL_M_MAX + 1),
        (19, 2 * params::NC_SMALL_M + 40, 300),
    ];
    for_each_path(|path| {
        for (i, &(m, n, k)) in shapes.iter().enumerate() {
            let (ta, tb) = COMBOS[i % 4];
            let g = with_trans(Gemm::new(m, n, k), ta, tb).alpha(0.75).beta(0.5);
            Case::new(g, 1, i as u64).check(&format!("{path} blocking {m}x{n}x{k}"));
        }
    });
}

/// The small direct path with a transposed B: the first row tile of each
/// full column panel transposes B while it computes, in 8-deep pieces with a
/// masked tail, and later row tiles (and later row blocks) reuse the panel.
/// Covers depth tails 1..7, one and several row tiles, ragged panels, the
/// `KC` split of a deep product, padded `ldb` and a transposed A.
#[test]
fn direct_path_transposed_b() {
    let mut shapes = Vec::new();
    for k in [1, 2, 7, 8, 9, 15, 16, 17, 31, 63, 64, 65] {
        for (m, n) in [(2, 32), (8, 32), (9, 33), (16, 64), (64, 64), (17, 100)] {
            shapes.push((m, n, k));
        }
    }
    // Deeper than one KC block, still on the direct path (m·n·k ≤ 128³).
    shapes.extend([(8, 32, params::KC + 9), (16, 48, 2 * params::KC + 3)]);
    for_each_path(|path| {
        for (i, &(m, n, k)) in shapes.iter().enumerate() {
            for ta in [false, true] {
                let g = with_trans(Gemm::new(m, n, k), ta, true).beta(0.5);
                Case::new(g, i % 3, i as u64).check(&format!("{path} direct Bt {m}x{n}x{k}"));
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
    pool.install(|| {
        for_each_path(|path| {
            // n split, m split (tall and thin), and both ragged.
            for &(m, n, k) in &[
                (300, 257, 515),
                (700, 20, 300),
                (130, 131, 257),
                (64, 700, 64),
            ] {
                for (ta, tb) in COMBOS {
                    let g = with_trans(Gemm::new(m, n, k), ta, tb).beta(0.5);
                    Case::new(g, 1, 11).check(&format!("{path} parallel"));
                }
            }
        });
    });
}

#[test]
fn nan_inf_denormal_propagate() {
    for_each_path(|path| {
        for (ta, tb) in COMBOS {
            for &(m, n, k) in &[(5, 9, 7), (40, 70, 300)] {
                let g = with_trans(Gemm::new(m, n, k), ta, tb);
                let mut case = Case::new(g, 0, 5);
                let len_a = case.a.len();
                case.a[len_a / 3] = f32::NAN;
                case.a[len_a / 2] = f32::INFINITY;
                case.a[len_a - 1] = 1e-39; // denormal
                let len_b = case.b.len();
                case.b[len_b / 4] = f32::NEG_INFINITY;
                case.b[len_b / 5] = -3e-40;
                let mut got = case.c0.clone();
                let mut want = case.c0.clone();
                gemm(&case.g, &case.a, &case.b, &mut got).unwrap();
                gemm_ref(&case.g, &case.a, &case.b, &mut want).unwrap();
                assert!(got.iter().any(|x| x.is_nan()), "{path}: NaN must propagate");
                for (x, y) in got.iter().zip(&want) {
                    assert_eq!(x.is_nan(), y.is_nan(), "{path}: NaN pattern {x} vs {y}");
                    if y.is_infinite() {
                        assert_eq!(x, y, "{path}: inf must propagate");
                    }
                }
            }
        }
    });
}

#[test]
fn pytorch_fixture_matmul() {
    let (a, a_shape) = fixture("matmul_a");
    let (b, b_shape) = fixture("matmul_b");
    let (want, c_shape) = fixture("matmul_c");
    let (m, k, n) = (a_shape[0], a_shape[1], b_shape[1]);
    assert_eq!((b_shape[0], c_shape.as_slice()), (k, [m, n].as_slice()));
    // Also as A·Bᵀ with B transposed in memory.
    let mut b_t = vec![0.0; k * n];
    for p in 0..k {
        for j in 0..n {
            b_t[j * k + p] = b[p * n + j];
        }
    }
    for_each_path(|path| {
        let mut c = vec![f32::NAN; m * n];
        gemm(&Gemm::new(m, n, k), &a, &b, &mut c).unwrap();
        max_rel_diff(&c, &want, 1.0).assert_within(FIXTURE_REL_TOL, &format!("{path}"));
        c.fill(f32::NAN);
        gemm(&Gemm::new(m, n, k).transpose_b(), &a, &b_t, &mut c).unwrap();
        max_rel_diff(&c, &want, 1.0).assert_within(FIXTURE_REL_TOL, &format!("{path} Bᵀ"));
    });
}

#[test]
fn validation_errors_are_returned() {
    let g = Gemm::new(4, 5, 6);
    let (a, b, mut c) = (vec![0.0; 24], vec![0.0; 30], vec![0.0; 20]);
    assert!(gemm(&g, &a, &b, &mut c).is_ok());
    let ld = |operand, ld, row_len| KernelError::LeadingDimension {
        op: "gemm",
        operand,
        ld,
        row_len,
    };
    assert_eq!(gemm(&g.lda(5), &a, &b, &mut c), Err(ld("a", 5, 6)));
    assert_eq!(gemm(&g.ldb(4), &a, &b, &mut c), Err(ld("b", 4, 5)));
    assert_eq!(gemm(&g.ldc(4), &a, &b, &mut c), Err(ld("c", 4, 5)));
    assert_eq!(
        gemm(&g.transpose_a().lda(3), &a, &b, &mut c),
        Err(ld("a", 3, 4))
    );
    assert_eq!(
        gemm(&g.transpose_b().ldb(5), &a, &b, &mut c),
        Err(ld("b", 5, 6))
    );
    let small = |operand, required, actual| KernelError::BufferTooSmall {
        op: "gemm",
        operand,
        required,
        actual,
    };
    assert_eq!(gemm(&g, &a[..23], &b, &mut c), Err(small("a", 24, 23)));
    assert_eq!(gemm(&g, &a, &b[..29], &mut c), Err(small("b", 30, 29)));
    assert_eq!(gemm(&g, &a, &b, &mut c[..19]), Err(small("c", 20, 19)));
    assert_eq!(gemm(&g.ldc(7), &a, &b, &mut c), Err(small("c", 26, 20)));
    let huge = Gemm::new(usize::MAX / 2, 5, 6);
    assert_eq!(
        gemm(&huge, &a, &b, &mut c),
        Err(KernelError::SizeOverflow {
            op: "gemm",
            operand: "a"
        })
    );
    assert_eq!(
        gemm_ref(&g, &a[..23], &b, &mut c),
        Err(KernelError::BufferTooSmall {
            op: "gemm_ref",
            operand: "a",
            required: 24,
            actual: 23
        })
    );
}

#[test]
fn builder_defaults() {
    let g = Gemm::new(3, 4, 5);
    assert_eq!((g.lda, g.ldb, g.ldc, g.alpha, g.beta), (5, 4, 4, 1.0, 0.0));
    let t = g.lda(9).ldb(9).transpose_a().transpose_b();
    assert_eq!(
        (t.trans_a, t.trans_b, t.lda, t.ldb),
        (Transpose::Yes, Transpose::Yes, 3, 5)
    );
    assert_eq!(g.flops(), 120.0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn matches_reference(
        m in 0usize..80, n in 0usize..80, k in 0usize..80,
        ta in any::<bool>(), tb in any::<bool>(), pad in 0usize..4,
        alpha in prop_oneof![Just(1.0f32), -2.0f32..2.0],
        beta in prop_oneof![Just(0.0f32), Just(1.0f32), -2.0f32..2.0],
        seed in any::<u64>(),
    ) {
        let g = with_trans(Gemm::new(m, n, k), ta, tb).alpha(alpha).beta(beta);
        let case = Case::new(g, pad, seed);
        for_each_path(|path| case.check(&format!("{path} proptest")));
    }
}
