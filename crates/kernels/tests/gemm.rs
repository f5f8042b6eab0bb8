//! Conformance suite for `gemm` (WIP).
mod common;
use common::{Rng, for_each_path, max_rel_err};
use smallmind_kernels::gemm::{Gemm, gemm, gemm_ref};

#[test]
fn quick() {
    for_each_path(|path| {
        let mut rng = Rng::new(1);
        for &(m, n, k) in &[(2, 3, 4), (17, 33, 9), (64, 64, 64), (65, 63, 300), (300, 257, 515), (130, 5000, 20)] {
            for ta in [false, true] { for tb in [false, true] {
                let mut g = Gemm::new(m, n, k);
                if ta { g = g.transpose_a(); }
                if tb { g = g.transpose_b(); }
                let a = rng.vec(m * k, 1.0);
                let b = rng.vec(k * n, 1.0);
                let mut c = vec![f32::NAN; m * n];
                let mut r = vec![0.0; m * n];
                gemm(&g, &a, &b, &mut c).unwrap();
                gemm_ref(&g, &a, &b, &mut r).unwrap();
                let e = max_rel_err(&c, &r);
                assert!(e < 1e-4, "{path} {m} {n} {k} {ta} {tb}: {e}");
            }}
        }
    });
}
