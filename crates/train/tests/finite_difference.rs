//! Our analytic f32 gradients against central differences of the scalar f64
//! reference loss (`gpt2_loss_ref`), on random parameters of every tensor,
//! for the tied fixture model and a small untied config.
//!
//! Central differences `(L(p + h) − L(p − h)) / 2h` in f64 with `h = 1e-5`
//! have truncation error `O(h²·L''')` ≈ 1e-10 and rounding error
//! `O(ε_f64·L/h)` ≈ 1e-10, so the finite difference is exact to ~1e-9; the
//! comparison's error is our f32 arithmetic. It is bounded per element by
//! `FD_ABS_TOL + FD_REL_TOL·max|g|` of that parameter's tensor (the f32
//! gradients of the fixture differ from f64 by ≤ 4.4e-6 of the tensor's
//! max |g|, see its README).

mod common;

use common::{Rng, fixture, random_params, small_untied_config};
use smallmind_model::ModelConfig;
use smallmind_testkit::{max_abs_diff, max_rel_diff, max_scaled_diff};
use smallmind_train::{Gpt2Trainer, ParamLayout, gpt2_loss_ref};

/// Step of the central differences.
const FD_STEP: f64 = 1e-5;
/// Tolerance relative to the tensor's largest |gradient|.
/// Measured 4.3e-6 (SMALLMIND_SIMD=v4, v3 and scalar; `SMALLMIND_SIMD=<path> cargo test -p smallmind-train --test finite_difference -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2.3×.
const FD_REL_TOL: f64 = 1e-5;
/// Absolute floor of the tolerance, for tensors whose gradients are all near zero (a
/// floor, not a measured error: `FD_REL_TOL` carries the measurement).
const FD_ABS_TOL: f64 = 1e-7;
/// Our f32 loss vs the f64 reference loss, relative.
/// Measured 8.5e-8 (SMALLMIND_SIMD=v4, v3 and scalar; `SMALLMIND_SIMD=<path> cargo test -p smallmind-train --test finite_difference -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const LOSS_VS_F64_TOL: f64 = 2e-7;
/// Parameters probed per tensor.
const PROBES_PER_TENSOR: usize = 2;

fn check_against_finite_differences(
    config: &ModelConfig,
    params: &[f32],
    inputs: &[u32],
    targets: &[u32],
    (b, t): (usize, usize),
    seed: u64,
) {
    let layout = ParamLayout::gpt2(config).unwrap();
    let mut trainer = Gpt2Trainer::new(config, b, t).unwrap();
    let loss = trainer.forward(params, inputs, targets).unwrap();
    let mut grads = vec![0.0; params.len()];
    trainer.backward(params, &mut grads, 1.0).unwrap();

    let mut p64: Vec<f64> = params.iter().map(|&p| f64::from(p)).collect();
    let loss_ref = gpt2_loss_ref(config, &p64, inputs, targets, b, t).unwrap();
    max_rel_diff(&[f64::from(loss)], &[loss_ref], 0.0)
        .assert_within(LOSS_VS_F64_TOL, "loss vs f64");

    let mut rng = Rng(seed);
    for entry in layout.entries() {
        let range = entry.range();
        // The tensor's largest |gradient| (NaN fails the comparison below).
        let max_g = max_abs_diff(&grads[range.clone()], &vec![0.0; entry.numel()]).error;
        for _ in 0..PROBES_PER_TENSOR {
            let i = range.start + rng.below(entry.numel());
            let saved = p64[i];
            p64[i] = saved + FD_STEP;
            let up = gpt2_loss_ref(config, &p64, inputs, targets, b, t).unwrap();
            p64[i] = saved - FD_STEP;
            let down = gpt2_loss_ref(config, &p64, inputs, targets, b, t).unwrap();
            p64[i] = saved;
            let fd = (up - down) / (2.0 * FD_STEP);
            let ours = f64::from(grads[i]);
            // |ours − fd| ≤ FD_REL_TOL·max|g| + FD_ABS_TOL.
            max_scaled_diff(&[ours], &[fd], &[max_g + FD_ABS_TOL / FD_REL_TOL])
                .assert_within(FD_REL_TOL, &format!("{}[{}]", entry.name, i - range.start));
        }
    }
}

#[test]
fn fixture_gradients_match_finite_differences() {
    let fx = fixture();
    let (b, t) = (2, 12);
    // The first 12 tokens of the first two sequences.
    let pick = |v: &[u32]| -> Vec<u32> {
        (0..b)
            .flat_map(|s| v[s * fx.context..s * fx.context + t].to_vec())
            .collect()
    };
    let (inputs, targets) = (pick(&fx.inputs), pick(&fx.targets));
    assert_eq!(inputs.len(), b * t);
    check_against_finite_differences(&fx.config, &fx.params, &inputs, &targets, (b, t), 17);
}

#[test]
fn untied_gradients_match_finite_differences() {
    let config = small_untied_config();
    let layout = ParamLayout::gpt2(&config).unwrap();
    let params = random_params(&layout, 23);
    let (b, t) = (2, 9);
    let mut rng = Rng(29);
    let inputs = rng.tokens(b * t, config.vocab_size);
    let targets = rng.tokens(b * t, config.vocab_size);
    check_against_finite_differences(&config, &params, &inputs, &targets, (b, t), 31);
}

/// A context of several causal tiles (the attention works on 32-query tiles),
/// the last one partial.
#[test]
fn long_context_gradients_match_finite_differences() {
    let mut config = small_untied_config();
    config.max_position_embeddings = 80;
    let layout = ParamLayout::gpt2(&config).unwrap();
    let params = random_params(&layout, 41);
    let (b, t) = (2, 70);
    let mut rng = Rng(43);
    let inputs = rng.tokens(b * t, config.vocab_size);
    let targets = rng.tokens(b * t, config.vocab_size);
    check_against_finite_differences(&config, &params, &inputs, &targets, (b, t), 47);
}
