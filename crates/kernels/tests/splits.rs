//! Every split gives the same bits: each splitting kernel is run with its work
//! forced into 1, 2, … up to `n` parts (one per output row) on teams of 1, 2
//! and 3 workers and with no team (rayon), on every SIMD path, and must equal
//! its serial result bit for bit; the serial result is checked against the
//! kernel's `_ref` oracle.

mod common;

use common::{Rng, for_each_path};
use smallmind_kernels::gemm::{Gemm, gemm, gemm_ref};
use smallmind_kernels::gemv::{gemv, gemv_ref};
use smallmind_kernels::gemv_half::{bf16, f16, gemv_bf16, gemv_f16, gemv_half_ref};
use smallmind_kernels::parallel::with_parts;
use smallmind_kernels::quant::{self, BlockQ4_0, BlockQ4K, BlockQ8_0, BlockQ8K, QK, QK_K};
use smallmind_kernels::{SimdPath, Team, convert};
use smallmind_testkit::max_rel_diff;

/// Output rows of every product: not a multiple of any tile height.
const N: usize = 37;
/// Depth: one K-quant superblock, eight 32-value blocks.
const K: usize = 256;
/// Activation rows of the GEMMs.
const M: usize = 5;

/// Relative error (floor 1) of the f32 kernels against their f64 oracles, a
/// length-256 f32 dot of values in [-1, 1): measured at most 2.7e-6 (the
/// A·Bᵀ GEMM, V4 and V3 paths); twice that.
const F32_TOL: f64 = 5.5e-6;
/// The quantized kernels against their f64 block-dot oracles (only f32
/// scaling and summation order differ): measured at most 1.5e-6 (Q4_K GEMV,
/// scalar path); twice that.
const QUANT_TOL: f64 = 3e-6;

/// The operands, made once.
struct Operands {
    x: Vec<f32>,
    xm: Vec<f32>,
    w: Vec<f32>,
    w_bf16: Vec<bf16>,
    w_f16: Vec<f16>,
    w_q4_0: Vec<BlockQ4_0>,
    x_q8_0: Vec<BlockQ8_0>,
    xm_q8_0: Vec<BlockQ8_0>,
    w_q4k: Vec<BlockQ4K>,
    x_q8k: Vec<BlockQ8K>,
}

fn blocks<B: quant::BlockFormat + bytemuck::Pod>(x: &[f32], per_block: usize) -> Vec<B> {
    let mut out = vec![B::zeroed(); x.len() / per_block];
    quant::quantize(x, &mut out).unwrap();
    out
}

impl Operands {
    fn new() -> Operands {
        let mut rng = Rng::new(16);
        let (x, xm, w) = (rng.vec(K, 1.0), rng.vec(M * K, 1.0), rng.vec(N * K, 1.0));
        Operands {
            w_bf16: w.iter().map(|&v| bf16::from_f32(v)).collect(),
            w_f16: w.iter().map(|&v| f16::from_f32(v)).collect(),
            w_q4_0: blocks(&w, QK),
            x_q8_0: blocks(&x, QK),
            xm_q8_0: blocks(&xm, QK),
            w_q4k: blocks(&w, QK_K),
            x_q8k: blocks(&x, QK_K),
            x,
            xm,
            w,
        }
    }

    /// Every splitting kernel's output, by name.
    fn run(&self) -> Vec<(&'static str, Vec<f32>)> {
        let mut scratch = vec![0.0f32; K];
        let mut out = Vec::new();
        let mut y = vec![0.0f32; N];
        gemv(&Gemm::new(1, N, K).transpose_b(), &self.x, &self.w, &mut y).unwrap();
        out.push(("gemv Bᵀ", y.clone()));
        gemv(
            &Gemm::new(1, N, K / 4),
            &self.x[..K / 4],
            &self.w[..K / 4 * N],
            &mut y,
        )
        .unwrap();
        out.push(("gemv B", y.clone()));
        gemv_bf16(&self.x, &self.w_bf16, N, K, &mut scratch, &mut y).unwrap();
        out.push(("gemv_bf16", y.clone()));
        gemv_f16(&self.x, &self.w_f16, N, K, &mut scratch, &mut y).unwrap();
        out.push(("gemv_f16", y.clone()));
        quant::gemv(&self.w_q4_0, N, K, &self.x_q8_0, &mut y).unwrap();
        out.push(("q4_0 gemv", y.clone()));
        quant::gemv_f32(&self.w_q4_0, N, K, &self.x, &mut y).unwrap();
        out.push(("q4_0 gemv_f32", y.clone()));
        quant::gemv(&self.w_q4k, N, K, &self.x_q8k, &mut y).unwrap();
        out.push(("q4_k gemv", y.clone()));
        let mut ym = vec![0.0f32; M * N];
        quant::gemm(&self.w_q4_0, N, K, &self.xm_q8_0, M, &mut ym).unwrap();
        out.push(("q4_0 gemm", ym.clone()));
        gemm(
            &Gemm::new(M, N, K).transpose_b(),
            &self.xm,
            &self.w,
            &mut ym,
        )
        .unwrap();
        out.push(("gemm nt", ym.clone()));
        gemm(
            &Gemm::new(M, N, K / 4),
            &self.xm[..M * K / 4],
            &self.w[..K / 4 * N],
            &mut ym,
        )
        .unwrap();
        out.push(("gemm nn", ym.clone()));
        let mut wide = vec![0.0f32; N * K];
        convert::bf16_to_f32(&self.w_bf16, &mut wide).unwrap();
        out.push(("bf16_to_f32", wide));
        out
    }

    /// The oracles of [`Operands::run`], in its order (the widening is exact
    /// and checked against `half`).
    fn oracles(&self) -> Vec<(Vec<f32>, f64)> {
        let mut scratch = vec![0.0f32; K];
        let mut out = Vec::new();
        let mut y = vec![0.0f32; N];
        gemv_ref(&Gemm::new(1, N, K).transpose_b(), &self.x, &self.w, &mut y).unwrap();
        out.push((y.clone(), F32_TOL));
        gemv_ref(
            &Gemm::new(1, N, K / 4),
            &self.x[..K / 4],
            &self.w[..K / 4 * N],
            &mut y,
        )
        .unwrap();
        out.push((y.clone(), F32_TOL));
        gemv_half_ref(&self.x, &self.w_bf16, N, K, &mut scratch, &mut y).unwrap();
        out.push((y.clone(), F32_TOL));
        gemv_half_ref(&self.x, &self.w_f16, N, K, &mut scratch, &mut y).unwrap();
        out.push((y.clone(), F32_TOL));
        quant::gemv_ref(&self.w_q4_0, N, K, &self.x_q8_0, &mut y).unwrap();
        out.push((y.clone(), QUANT_TOL));
        quant::gemv_f32_ref(&self.w_q4_0, N, K, &self.x, &mut y).unwrap();
        out.push((y.clone(), QUANT_TOL));
        quant::gemv_ref(&self.w_q4k, N, K, &self.x_q8k, &mut y).unwrap();
        out.push((y.clone(), QUANT_TOL));
        let mut ym = vec![0.0f32; M * N];
        quant::gemm_ref(&self.w_q4_0, N, K, &self.xm_q8_0, M, &mut ym).unwrap();
        out.push((ym.clone(), QUANT_TOL));
        gemm_ref(
            &Gemm::new(M, N, K).transpose_b(),
            &self.xm,
            &self.w,
            &mut ym,
        )
        .unwrap();
        out.push((ym.clone(), F32_TOL));
        gemm_ref(
            &Gemm::new(M, N, K / 4),
            &self.xm[..M * K / 4],
            &self.w[..K / 4 * N],
            &mut ym,
        )
        .unwrap();
        out.push((ym.clone(), F32_TOL));
        let wide: Vec<f32> = self.w_bf16.iter().map(|v| v.to_f32()).collect();
        out.push((wide, 0.0));
        out
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn splits_every_split_on_every_team_gives_the_serial_bits() {
    let ops = Operands::new();
    let teams: Vec<Team> = (1..=3).map(|w| Team::new(w, "splits").unwrap()).collect();
    for_each_path(|path: SimdPath| {
        let serial = teams[0].install(|| with_parts(1, || ops.run()));
        for ((name, got), (want, tol)) in serial.iter().zip(ops.oracles()) {
            let err = max_rel_diff(got, &want, 1.0);
            assert!(err.within(tol), "{path} {name}: serial vs oracle {err:?}");
        }
        let mut runs = 0;
        for parts in 1..=N {
            for team in &teams {
                let split = team.install(|| with_parts(parts, || ops.run()));
                for ((name, a), (_, b)) in split.iter().zip(&serial) {
                    assert_eq!(
                        bits(a),
                        bits(b),
                        "{path} {name}: {parts} parts on {} workers",
                        team.workers()
                    );
                }
                runs += 1;
            }
            // No team installed: the parts run on the rayon pool.
            let split = with_parts(parts, || ops.run());
            for ((name, a), (_, b)) in split.iter().zip(&serial) {
                assert_eq!(bits(a), bits(b), "{path} {name}: {parts} parts on rayon");
            }
        }
        assert_eq!(runs, 3 * N);
    });
}

/// While two threads keep both cores busy (as another process would), every
/// team size still finishes and gives the serial bits: the spin-then-park
/// waits give the cores away instead of livelocking.
#[test]
fn splits_under_load_still_give_the_serial_bits() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let ops = Operands::new();
    let teams: Vec<Team> = (1..=3).map(|w| Team::new(w, "loaded").unwrap()).collect();
    let serial = teams[0].install(|| with_parts(1, || ops.run()));
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            });
        }
        /// Stops the busy threads also when an assertion fails.
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop = Stop(&stop);
        for round in 0..20 {
            for team in &teams {
                let parts = 1 + round % N;
                let got = team.install(|| with_parts(parts, || ops.run()));
                for ((name, a), (_, b)) in got.iter().zip(&serial) {
                    assert_eq!(
                        bits(a),
                        bits(b),
                        "{name}: {parts} parts on {} workers",
                        team.workers()
                    );
                }
            }
        }
    });
}

/// The f32 GEMV's parts are runs of `GEMV_PART_ALIGN` outputs: with more
/// outputs than one run, both layouts give the serial bits for every split,
/// including a depth with a scalar tail on every path (`k = 203`).
#[test]
fn splits_f32_gemv_across_part_runs_gives_the_serial_bits() {
    use smallmind_kernels::gemv::GEMV_PART_ALIGN;
    let (n, k) = (5 * GEMV_PART_ALIGN + 7, 203);
    let mut rng = Rng::new(11);
    let x = rng.vec(k, 1.0);
    let w = rng.vec(n * k, 1.0);
    let teams: Vec<Team> = (1..=3).map(|w| Team::new(w, "gemv").unwrap()).collect();
    let run = || {
        let mut bt = vec![f32::NAN; n];
        gemv(&Gemm::new(1, n, k).transpose_b(), &x, &w, &mut bt).unwrap();
        let mut b = vec![f32::NAN; n];
        gemv(&Gemm::new(1, n, k), &x, &w, &mut b).unwrap();
        [bits(&bt), bits(&b)]
    };
    for_each_path(|path: SimdPath| {
        let serial = teams[0].install(|| with_parts(1, run));
        assert!(
            serial
                .iter()
                .flatten()
                .all(|&b| f32::from_bits(b).is_finite())
        );
        for parts in 1..=n.div_ceil(GEMV_PART_ALIGN) + 1 {
            for team in &teams {
                let split = team.install(|| with_parts(parts, run));
                assert_eq!(
                    split,
                    serial,
                    "{path}: {parts} parts on {} workers",
                    team.workers()
                );
            }
        }
    });
}
