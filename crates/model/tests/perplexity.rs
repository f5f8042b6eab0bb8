//! `text_loss` against PyTorch: the tiny-gpt2 fixture's training batch
//! (`train.safetensors`: 4 rows of 33 tokens, the mean cross-entropy of all
//! 128 next-token targets). Each row is its own text of 32 predictions, so
//! the mean of the four row losses is the fixture's loss.

mod common;

use safetensors::SafeTensors;
use smallmind_model::{ModelError, text_loss};
use smallmind_testkit::max_rel_diff;

/// f32 logits summed in f64: agreement to this relative error.
/// Measured 8.7e-8 (SMALLMIND_SIMD=v4, v3 and scalar; `SMALLMIND_SIMD=<path> cargo test -p smallmind-model --test perplexity -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const LOSS_REL_TOL: f64 = 2e-7;

#[test]
fn mean_loss_matches_pytorch_cross_entropy() {
    let bytes = std::fs::read(common::fixture_dir("tiny-gpt2").join("train.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let ids: Vec<u32> = st
        .tensor("batch_ids")
        .unwrap()
        .data()
        .chunks_exact(8)
        .map(|b| u32::try_from(i64::from_le_bytes(b.try_into().unwrap())).unwrap())
        .collect();
    let expected = f32::from_le_bytes(st.tensor("loss").unwrap().data()[..4].try_into().unwrap());
    let model = common::load("tiny-gpt2");
    let mut session = common::session(&model, 1);
    let mut total = 0.0;
    for row in ids.chunks_exact(33) {
        let scored = text_loss(&mut session, row).unwrap();
        assert_eq!(scored.predictions, 32);
        total += scored.loss;
    }
    let loss = total / 4.0;
    max_rel_diff(&[loss], &[f64::from(expected)], 0.0)
        .assert_within(LOSS_REL_TOL, "mean loss vs PyTorch");
}

#[test]
fn one_token_predicts_nothing() {
    let model = common::load("tiny-gpt2");
    let mut session = common::session(&model, 1);
    assert!(matches!(
        text_loss(&mut session, &[3]),
        Err(ModelError::EmptyPrompt)
    ));
    assert!(
        text_loss(&mut session, &[3, 96]).is_err(),
        "token past the vocabulary"
    );
}
