//! The loss and every gradient against PyTorch on the tiny-gpt2 fixture,
//! plus the properties a training loop relies on: tied vs untied heads,
//! gradient accumulation, batch shapes, thread-count independence, bad input.

mod common;

use common::{Rng, fixture, norm_rel_err, random_params, small_untied_config};
use smallmind_testkit::{max_rel_diff, max_rel_to_scale};
use smallmind_train::{Gpt2Trainer, ParamLayout, TrainError};

/// Loss vs PyTorch's f32 loss (the acceptance bound).
/// Measured 9.0e-8 (SMALLMIND_SIMD=v4, v3 and scalar; `SMALLMIND_SIMD=<path> cargo test -p smallmind-train --test gradients -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const LOSS_REL_TOL: f64 = 2e-7;
/// Per-tensor gradient error, relative to the tensor's norm (acceptance bound).
/// Measured 3.5e-6 (SMALLMIND_SIMD=v4, v3 and scalar; `SMALLMIND_SIMD=<path> cargo test -p smallmind-train --test gradients -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const GRAD_NORM_REL_TOL: f64 = 7e-6;
/// Per-element gradient error, relative to the tensor's max |g|.
/// Measured 3.8e-6 (SMALLMIND_SIMD=v4, v3 and scalar; `SMALLMIND_SIMD=<path> cargo test -p smallmind-train --test gradients -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const GRAD_MAX_REL_TOL: f64 = 8e-6;
/// The tied head's gradient vs the untied one's two parts summed, relative to the norm.
/// Measured 4.1e-8 (SMALLMIND_SIMD=v4, v3 and scalar; `SMALLMIND_SIMD=<path> cargo test -p smallmind-train --test gradients -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2.5×.
const TIED_SUM_TOL: f64 = 1e-7;
/// Gradients summed in other groupings (half batches, single sequences) vs one batch,
/// relative to the norm.
/// Measured 3.0e-7 (SMALLMIND_SIMD=v4, v3 and scalar; `SMALLMIND_SIMD=<path> cargo test -p smallmind-train --test gradients -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const ACCUMULATION_TOL: f64 = 6e-7;
/// Backward twice with scale 1 vs once with scale 2, relative to the norm.
/// Measured 1.6e-8 (SMALLMIND_SIMD=v4, v3 and scalar; `SMALLMIND_SIMD=<path> cargo test -p smallmind-train --test gradients -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2.5×.
const SCALE_TOL: f64 = 4e-8;
/// The mean of single-sequence losses vs the batch loss, relative.
/// Measured 1.2e-7 (SMALLMIND_SIMD=v4, v3 and scalar; `SMALLMIND_SIMD=<path> cargo test -p smallmind-train --test gradients -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const BATCH_LOSS_TOL: f64 = 2.5e-7;

fn loss_and_grads(
    trainer: &mut Gpt2Trainer,
    params: &[f32],
    inputs: &[u32],
    targets: &[u32],
) -> (f32, Vec<f32>) {
    let loss = trainer.forward(params, inputs, targets).unwrap();
    let mut grads = vec![0.0; params.len()];
    trainer.backward(params, &mut grads, 1.0).unwrap();
    (loss, grads)
}

#[test]
fn loss_and_gradients_match_pytorch() {
    let fx = fixture();
    let mut trainer = Gpt2Trainer::new(&fx.config, fx.batch, fx.context).unwrap();
    let (loss, grads) = loss_and_grads(&mut trainer, &fx.params, &fx.inputs, &fx.targets);
    max_rel_diff(&[loss], &[fx.loss], 0.0).assert_within(LOSS_REL_TOL, "loss vs PyTorch");
    for entry in fx.layout.entries() {
        let (ours, theirs) = (&grads[entry.range()], &fx.grads[entry.range()]);
        norm_rel_err(ours, theirs)
            .assert_within(GRAD_NORM_REL_TOL, &format!("{} norm", entry.name));
        max_rel_to_scale(ours, theirs)
            .assert_within(GRAD_MAX_REL_TOL, &format!("{} max", entry.name));
    }
    // Positions the batch never reaches get exactly zero gradient.
    let wpe = fx.layout.find("transformer.wpe.weight").unwrap();
    let c = fx.config.hidden_size;
    assert!(
        grads[wpe.offset + fx.context * c..wpe.range().end]
            .iter()
            .all(|&g| g == 0.0)
    );
}

#[test]
fn evaluate_gives_the_forward_loss() {
    let fx = fixture();
    let mut trainer = Gpt2Trainer::new(&fx.config, fx.batch, fx.context).unwrap();
    let a = trainer
        .evaluate(&fx.params, &fx.inputs, &fx.targets)
        .unwrap();
    let b = trainer
        .forward(&fx.params, &fx.inputs, &fx.targets)
        .unwrap();
    assert_eq!(a.to_bits(), b.to_bits());
}

/// An untied head whose `lm_head` equals `wte` computes the same function:
/// the tied gradient of `wte` is the untied `wte` plus `lm_head` gradients.
#[test]
fn tied_gradient_is_the_sum_of_the_untied_ones() {
    let untied = small_untied_config();
    let mut tied = untied.clone();
    tied.tie_word_embeddings = true;
    let (lu, lt) = (
        ParamLayout::gpt2(&untied).unwrap(),
        ParamLayout::gpt2(&tied).unwrap(),
    );
    let pt = random_params(&lt, 7);
    let mut pu = vec![0.0; lu.len()];
    pu[..lt.len()].copy_from_slice(&pt);
    let wte = lt.find("transformer.wte.weight").unwrap().range();
    let head = lu.find("lm_head.weight").unwrap().range();
    pu.copy_within(wte.clone(), head.start);
    let (b, t) = (3, 16);
    let mut rng = Rng(11);
    let (inputs, targets) = (
        rng.tokens(b * t, untied.vocab_size),
        rng.tokens(b * t, untied.vocab_size),
    );
    let mut tu = Gpt2Trainer::new(&untied, b, t).unwrap();
    let mut tt = Gpt2Trainer::new(&tied, b, t).unwrap();
    let (loss_u, gu) = loss_and_grads(&mut tu, &pu, &inputs, &targets);
    let (loss_t, gt) = loss_and_grads(&mut tt, &pt, &inputs, &targets);
    assert_eq!(loss_u.to_bits(), loss_t.to_bits());
    let summed: Vec<f32> = gu[wte.clone()]
        .iter()
        .zip(&gu[head])
        .map(|(a, b)| a + b)
        .collect();
    norm_rel_err(&summed, &gt[wte.clone()]).assert_within(TIED_SUM_TOL, "wte");
    assert_eq!(gu[wte.end..lt.len()], gt[wte.end..]);
}

/// Two half batches with `loss_scale = 0.5` give the full batch's gradient.
#[test]
fn accumulation_equals_one_big_batch() {
    let fx = fixture();
    let (b, t) = (fx.batch, fx.context);
    let mut full = Gpt2Trainer::new(&fx.config, b, t).unwrap();
    let (_, g_full) = loss_and_grads(&mut full, &fx.params, &fx.inputs, &fx.targets);
    let mut half = Gpt2Trainer::new(&fx.config, b / 2, t).unwrap();
    let mut g_acc = vec![0.0; fx.params.len()];
    let split = b / 2 * t;
    for (inputs, targets) in [
        (&fx.inputs[..split], &fx.targets[..split]),
        (&fx.inputs[split..], &fx.targets[split..]),
    ] {
        half.forward(&fx.params, inputs, targets).unwrap();
        half.backward(&fx.params, &mut g_acc, 0.5).unwrap();
    }
    for entry in fx.layout.entries() {
        norm_rel_err(&g_acc[entry.range()], &g_full[entry.range()])
            .assert_within(ACCUMULATION_TOL, &entry.name);
    }
}

/// Backward adds into the gradients: twice with scale 1 is once with scale 2.
#[test]
fn backward_accumulates_with_its_scale() {
    let fx = fixture();
    let mut trainer = Gpt2Trainer::new(&fx.config, 1, 8).unwrap();
    let (inputs, targets) = (&fx.inputs[..8], &fx.targets[..8]);
    let mut twice = vec![0.0; fx.params.len()];
    let mut once = vec![0.0; fx.params.len()];
    for _ in 0..2 {
        trainer.forward(&fx.params, inputs, targets).unwrap();
        trainer.backward(&fx.params, &mut twice, 1.0).unwrap();
    }
    trainer.forward(&fx.params, inputs, targets).unwrap();
    trainer.backward(&fx.params, &mut once, 2.0).unwrap();
    norm_rel_err(&twice, &once).assert_within(SCALE_TOL, "twice vs scale 2");
}

/// Odd and degenerate batch shapes: each sequence's gradient, computed in a
/// batch, matches the per-sequence gradients averaged.
#[test]
fn batch_shapes_agree_with_single_sequences() {
    let config = small_untied_config();
    let layout = ParamLayout::gpt2(&config).unwrap();
    let params = random_params(&layout, 3);
    let mut rng = Rng(5);
    for (b, t) in [(1, 1), (1, 2), (3, 1), (2, 7), (5, 16), (1, 16)] {
        let inputs = rng.tokens(b * t, config.vocab_size);
        let targets = rng.tokens(b * t, config.vocab_size);
        let mut batched = Gpt2Trainer::new(&config, b, t).unwrap();
        let (loss, grads) = loss_and_grads(&mut batched, &params, &inputs, &targets);
        assert!(
            loss.is_finite() && grads.iter().all(|g| g.is_finite()),
            "({b}, {t})"
        );
        let mut single = Gpt2Trainer::new(&config, 1, t).unwrap();
        let mut summed = vec![0.0; params.len()];
        let mut loss_sum = 0.0;
        for s in 0..b {
            let rows = s * t..(s + 1) * t;
            loss_sum += single
                .forward(&params, &inputs[rows.clone()], &targets[rows])
                .unwrap();
            single
                .backward(&params, &mut summed, 1.0 / b as f32)
                .unwrap();
        }
        max_rel_diff(&[loss_sum / b as f32], &[loss], 0.0)
            .assert_within(BATCH_LOSS_TOL, &format!("({b}, {t}) loss"));
        norm_rel_err(&summed, &grads).assert_within(ACCUMULATION_TOL, &format!("({b}, {t})"));
    }
}

fn grads_with_threads(threads: usize) -> (f32, Vec<f32>) {
    let config = smallmind_model::Preset::Small.config();
    let layout = ParamLayout::gpt2(&config).unwrap();
    let params = random_params(&layout, 1);
    let mut rng = Rng(2);
    let (b, t) = (4, 64);
    let inputs = rng.tokens(b * t, config.vocab_size);
    let targets = rng.tokens(b * t, config.vocab_size);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut trainer = Gpt2Trainer::new(&config, b, t).unwrap();
        loss_and_grads(&mut trainer, &params, &inputs, &targets)
    })
}

/// 1 and 2 threads give bit-identical loss and gradients (M-small).
#[test]
fn threads_give_identical_gradients() {
    let (l1, g1) = grads_with_threads(1);
    let (l2, g2) = grads_with_threads(2);
    assert_eq!(l1.to_bits(), l2.to_bits());
    let differ = g1
        .iter()
        .zip(&g2)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    assert_eq!(differ, 0, "{differ} gradient elements differ");
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let fx = fixture();
    let (b, t) = (fx.batch, fx.context);
    let n = b * t;
    let mut trainer = Gpt2Trainer::new(&fx.config, b, t).unwrap();
    let (p, i, y) = (&fx.params, &fx.inputs, &fx.targets);
    let mut grads = vec![0.0; p.len()];
    // Backward before any forward.
    let err = trainer.backward(p, &mut grads, 1.0).unwrap_err();
    assert!(matches!(err, TrainError::InvalidInput(_)), "{err}");
    // Tokens outside the vocabulary.
    let mut bad = i.clone();
    bad[5] = 96;
    let err = trainer.forward(p, &bad, y).unwrap_err();
    assert!(err.to_string().contains("inputs[5] = 96"), "{err}");
    let err = trainer.forward(p, i, &bad).unwrap_err();
    assert!(err.to_string().contains("targets[5] = 96"), "{err}");
    // Wrong lengths.
    for err in [
        trainer.forward(p, &i[..n - 1], y).unwrap_err(),
        trainer.forward(p, i, &y[..n - 1]).unwrap_err(),
        trainer.forward(&p[1..], i, y).unwrap_err(),
    ] {
        assert!(matches!(err, TrainError::ShapeMismatch { .. }), "{err}");
    }
    trainer.forward(p, i, y).unwrap();
    let err = trainer.backward(p, &mut grads[1..], 1.0).unwrap_err();
    assert!(matches!(err, TrainError::ShapeMismatch { .. }), "{err}");
    let err = trainer.backward(p, &mut grads, f32::NAN).unwrap_err();
    assert!(matches!(err, TrainError::InvalidInput(_)), "{err}");
    // A failed forward leaves nothing to differentiate.
    assert!(trainer.forward(p, &bad, y).is_err());
    assert!(trainer.backward(p, &mut grads, 1.0).is_err());
    // Planning errors.
    for (b, t) in [(0, 4), (4, 0), (1, 129)] {
        let err = Gpt2Trainer::new(&fx.config, b, t).unwrap_err();
        assert!(
            matches!(err, TrainError::InvalidInput(_)),
            "({b}, {t}): {err}"
        );
    }
    let mut erf = fx.config.clone();
    erf.activation = smallmind_model::Activation::GeluErf;
    assert!(matches!(
        Gpt2Trainer::new(&erf, 1, 4),
        Err(TrainError::UnsupportedConfig(_))
    ));
}

/// The plan's size grows with the batch and is reported in bytes.
#[test]
fn planned_bytes_scale_with_the_batch() {
    let config = smallmind_model::Preset::Small.config();
    let one = Gpt2Trainer::new(&config, 1, 64).unwrap().planned_bytes();
    let eight = Gpt2Trainer::new(&config, 8, 64).unwrap().planned_bytes();
    assert!(one > 0 && eight == 8 * one, "{one} vs {eight}");
    let medium = smallmind_model::Preset::Medium.config();
    let m8 = Gpt2Trainer::new(&medium, 8, 128).unwrap().planned_bytes();
    println!("planned bytes: m-small B=8 T=64 {eight}, m-medium B=8 T=128 {m8}");
}
