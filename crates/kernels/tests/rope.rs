//! Conformance suite for `smallmind_kernels::rope`, run on every SIMD path.

mod common;

use common::{Rng, fixture, for_each_path, rel_err_with_matching_nans};
use proptest::prelude::*;
use smallmind_kernels::{KernelError, SimdPath, rope};
use smallmind_testkit::{max_abs_diff, max_rel_diff};

/// Rotation vs the f64 twin, as `|a − b| / max(1, |b|)`: two
/// products and one fused add per output.
/// Measured 4.8e-7 (every path: v4, v3, scalar; `cargo test -p smallmind-kernels --test rope -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const ROPE_REL_TOL: f64 = 1e-6;
/// Kernels and tables vs the PyTorch float64 fixture (the acceptance bound).
/// Measured 1.8e-7 (every path: v4, v3, scalar; `cargo test -p smallmind-kernels --test rope -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const FIXTURE_REL_TOL: f64 = 4e-7;
/// `rope_tables` vs the fixture's tables: both are f64 rounded once.
/// Measured 0 (bit-identical) (every path: v4, v3, scalar; `cargo test -p smallmind-kernels --test rope -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): one f32 ulp near 1 kept for other platforms' libm sin/cos.
const TABLE_ABS_TOL: f64 = 1e-7;

type RopeFn = fn(&mut [f32], usize, usize, &[f32], &[f32]) -> Result<(), KernelError>;

/// The two conventions, each with its twin.
const FORMS: [(&str, RopeFn, RopeFn); 2] = [
    (
        "rotate_half",
        rope::rope_rotate_half_inplace,
        rope::rope_rotate_half_inplace_ref,
    ),
    (
        "interleaved",
        rope::rope_interleaved_inplace,
        rope::rope_interleaved_inplace_ref,
    ),
];

/// `(a, b, c, d)` row-major → `(b, a, c, d)` with `d` contiguous; `(a, b)` is
/// `(heads, positions)` in the fixture and `(positions, heads)` in ours.
fn swap_outer(x: &[f32], a: usize, b: usize, d: usize) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    for i in 0..a {
        for j in 0..b {
            out[(j * a + i) * d..][..d].copy_from_slice(&x[(i * b + j) * d..][..d]);
        }
    }
    out
}

fn tables(n_pos: usize, head_dim: usize, start: usize) -> (Vec<f32>, Vec<f32>) {
    let mut cos = vec![0.0; n_pos * head_dim / 2];
    let mut sin = vec![0.0; n_pos * head_dim / 2];
    rope::rope_tables(10_000.0, head_dim, start..start + n_pos, &mut cos, &mut sin).unwrap();
    (cos, sin)
}

fn check_vs_ref(
    x: &[f32],
    n_heads: usize,
    head_dim: usize,
    cos: &[f32],
    sin: &[f32],
    path: SimdPath,
) {
    for (name, kernel, twin) in FORMS {
        let mut ours = x.to_vec();
        let mut theirs = x.to_vec();
        kernel(&mut ours, n_heads, head_dim, cos, sin).unwrap();
        twin(&mut theirs, n_heads, head_dim, cos, sin).unwrap();
        let what = format!(
            "{name} heads {n_heads} head_dim {head_dim} len {} on {path}",
            x.len()
        );
        // Some callers feed NaN on purpose: it must land where the twin puts it.
        rel_err_with_matching_nans(&ours, &theirs, &what).assert_within(ROPE_REL_TOL, &what);
    }
}

#[test]
fn tables_match_the_pytorch_fixture() {
    let (fixture_cos, shape) = fixture("rope_cos");
    let (fixture_sin, _) = fixture("rope_sin");
    assert_eq!(shape, [16, 64]);
    let (cos, sin) = tables(16, 64, 0);
    // HF's emb = cat(freqs, freqs): both halves of each fixture row hold our entries.
    for (ours, theirs, name) in [(&cos, &fixture_cos, "cos"), (&sin, &fixture_sin, "sin")] {
        for half in 0..2 {
            let theirs: Vec<f32> = (0..16)
                .flat_map(|p| theirs[p * 64 + 32 * half..][..32].to_vec())
                .collect();
            max_abs_diff(ours, &theirs)
                .assert_within(TABLE_ABS_TOL, &format!("{name} half {half}"));
        }
    }
}

#[test]
fn both_forms_match_the_pytorch_fixture() {
    let (x, shape) = fixture("rope_x");
    assert_eq!(shape, [4, 16, 64]);
    let (heads, n_pos, head_dim) = (4, 16, 64);
    let x = swap_outer(&x, heads, n_pos, head_dim); // → (positions, heads, head_dim)
    let (cos, sin) = tables(n_pos, head_dim, 0);
    for (name, expected) in [("rope_out", 0), ("rope_interleaved_out", 1)] {
        let (want, _) = fixture(name);
        let want = swap_outer(&want, heads, n_pos, head_dim);
        for_each_path(|path| {
            let mut got = x.clone();
            (FORMS[expected].1)(&mut got, heads, head_dim, &cos, &sin).unwrap();
            max_rel_diff(&got, &want, 1.0)
                .assert_within(FIXTURE_REL_TOL, &format!("{name} on {path}"));
        });
    }
}

#[test]
fn forms_match_ref_on_edge_head_dims() {
    for_each_path(|path| {
        let mut rng = Rng::new(8);
        for head_dim in [
            2, 4, 6, 8, 14, 16, 18, 30, 32, 34, 62, 64, 66, 96, 126, 128, 130, 256,
        ] {
            for (n_pos, n_heads) in [(0, 3), (1, 1), (3, 2), (5, 3)] {
                let x = rng.vec(n_pos * n_heads * head_dim, 3.0);
                let (cos, sin) = tables(n_pos, head_dim, 1000);
                check_vs_ref(&x, n_heads, head_dim, &cos, &sin, path);
            }
        }
    });
}

#[test]
fn position_zero_is_the_identity() {
    for_each_path(|path| {
        let mut rng = Rng::new(9);
        let x = rng.vec(3 * 64, 2.0);
        let (cos, sin) = tables(1, 64, 0);
        for (name, kernel, _) in FORMS {
            let mut y = x.clone();
            kernel(&mut y, 3, 64, &cos, &sin).unwrap();
            assert_eq!(y, x, "{name} on {path}");
        }
    });
}

#[test]
fn tables_accept_any_positions_and_are_accurate_far_out() {
    let positions = [0usize, 7, 4096, 131_071, 1 << 20];
    let mut cos = vec![0.0; positions.len() * 32];
    let mut sin = vec![0.0; positions.len() * 32];
    rope::rope_tables(500_000.0, 64, positions.iter().copied(), &mut cos, &mut sin).unwrap();
    for (k, &p) in positions.iter().enumerate() {
        for i in 0..32 {
            let angle = p as f64 * 500_000f64.powf(-2.0 * i as f64 / 64.0);
            assert!(
                (f64::from(cos[k * 32 + i]) - angle.cos()).abs() <= 6e-8,
                "p {p} i {i}"
            );
            assert!(
                (f64::from(sin[k * 32 + i]) - angle.sin()).abs() <= 6e-8,
                "p {p} i {i}"
            );
        }
    }
}

#[test]
fn non_finite_and_denormal_inputs_match_ref() {
    for_each_path(|path| {
        let mut rng = Rng::new(10);
        let (cos, sin) = tables(2, 64, 5);
        for special in [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::from_bits(1),
            f32::MIN_POSITIVE,
        ] {
            let mut x = rng.vec(2 * 2 * 64, 1.0);
            for at in [0, 1, 31, 32, 33, 63, 64 + 17, 255] {
                x[at] = special;
            }
            check_vs_ref(&x, 2, 64, &cos, &sin, path);
        }
    });
}

#[test]
fn bad_shapes_are_errors() {
    let (cos, sin) = tables(2, 8, 0);
    let invalid = |r: Result<(), KernelError>| {
        assert!(
            matches!(r, Err(KernelError::InvalidDimension { .. })),
            "{r:?}"
        )
    };
    let mismatch = |r: Result<(), KernelError>| {
        assert!(
            matches!(r, Err(KernelError::LengthMismatch { .. })),
            "{r:?}"
        )
    };
    for_each_path(|_| {
        for (_, kernel, twin) in FORMS {
            let mut x = vec![0.0f32; 2 * 3 * 8];
            invalid(kernel(&mut x, 3, 7, &cos, &sin));
            invalid(kernel(&mut x, 3, 0, &cos, &sin));
            invalid(twin(&mut x, 3, 7, &cos, &sin));
            invalid(kernel(&mut x, 3, 8, &cos[..7], &sin[..7]));
            mismatch(kernel(&mut x, 3, 8, &cos, &sin[..4]));
            mismatch(kernel(&mut x, 2, 8, &cos, &sin));
            mismatch(kernel(&mut x[..40], 3, 8, &cos, &sin));
            mismatch(twin(&mut x[..40], 3, 8, &cos, &sin));
            assert!(matches!(
                kernel(&mut x, usize::MAX, 8, &cos, &sin),
                Err(KernelError::SizeOverflow { .. })
            ));
            kernel(&mut x, 3, 8, &cos, &sin).unwrap();
            kernel(&mut [], 3, 8, &[], &[]).unwrap();
            kernel(&mut [], 0, 8, &cos, &sin).unwrap();
        }
    });
    let (mut c, mut s) = (vec![0.0f32; 8], vec![0.0f32; 8]);
    invalid(rope::rope_tables(1e4, 5, 0..2, &mut c, &mut s));
    mismatch(rope::rope_tables(1e4, 8, 0..3, &mut c, &mut s));
    mismatch(rope::rope_tables(1e4, 8, 0..2, &mut c, &mut s[..7]));
    rope::rope_tables(1e4, 8, 0..2, &mut c, &mut s).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn proptest_vs_ref(
        half in 1usize..100,
        n_heads in 1usize..5,
        n_pos in 0usize..5,
        start in 0usize..100_000,
        seed in any::<u64>(),
    ) {
        let head_dim = 2 * half;
        let mut rng = Rng::new(seed);
        let x = rng.vec(n_pos * n_heads * head_dim, 10.0);
        let (cos, sin) = tables(n_pos, head_dim, start);
        for_each_path(|path| check_vs_ref(&x, n_heads, head_dim, &cos, &sin, path));
    }
}
