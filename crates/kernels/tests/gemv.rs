//! Conformance suite for `gemv` (WIP).
mod common;
use common::{Rng, for_each_path, max_rel_err};
use smallmind_kernels::gemm::Gemm;
use smallmind_kernels::gemv::{gemv, gemv_ref};

#[test]
fn quick() {
    for_each_path(|path| {
        let mut rng = Rng::new(1);
        for &(n, k) in &[(3, 4), (33, 9), (64, 64), (63, 300), (257, 515), (5000, 20), (70000, 33)] {
            for ta in [false, true] { for tb in [false, true] {
                let mut g = Gemm::new(1, n, k);
                if ta { g = g.transpose_a(); }
                if tb { g = g.transpose_b(); }
                let a = rng.vec(k, 1.0);
                let b = rng.vec(k * n, 1.0);
                let mut c = vec![f32::NAN; n];
                let mut r = vec![0.0; n];
                gemv(&g, &a, &b, &mut c).unwrap();
                gemv_ref(&g, &a, &b, &mut r).unwrap();
                let e = max_rel_err(&c, &r);
                assert!(e < 1e-4, "{path} {n} {k} {ta} {tb}: {e}");
            }}
        }
    });
}
