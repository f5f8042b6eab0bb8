//! Cross-entropy fused with softmax, over `(rows, V)` logits.
//!
//! Forward, per row with target `y`: `p = softmax(z)` (the kernel, in place)
//! and `ℓ = log Σ_j e^{z_j} − z_y`. The log-sum-exp comes for free from the
//! probabilities: at the row's maximum `z_max`, `p_max = 1/Σ_j e^{z_j − z_max}`,
//! so `ℓ = (z_max − z_y) − ln p_max`. Since `p_max ≥ 1/V` this never
//! underflows, unlike `−ln p_y`. The loss is the mean over rows, summed in
//! f64 in row order.
//!
//! Backward of the mean: `∂L/∂z = (p − onehot(y))/rows`, scaled by the
//! caller's loss scale, written over the probabilities.

use rayon::prelude::*;
use smallmind_kernels::softmax::softmax_row_inplace;

use crate::error::{Result, TrainError, check_len};

/// Rows per rayon task.
const ROWS_PER_TASK: usize = 8;

/// Replaces each row of `logits` `(rows, vocab)` by its softmax, writes each
/// row's cross-entropy against `targets` `(rows,)` into `row_loss`, and
/// returns their mean.
///
/// # Errors
/// [`TrainError::ShapeMismatch`] when the lengths disagree,
/// [`TrainError::InvalidInput`] for a target outside the vocabulary.
pub fn cross_entropy_forward(
    logits: &mut [f32],
    targets: &[u32],
    vocab: usize,
    row_loss: &mut [f32],
) -> Result<f32> {
    check(logits, targets, vocab)?;
    check_len("row_loss", targets.len(), row_loss.len())?;
    if targets.is_empty() {
        return Ok(0.0);
    }
    logits
        .par_chunks_mut(vocab * ROWS_PER_TASK)
        .zip(targets.par_chunks(ROWS_PER_TASK))
        .zip(row_loss.par_chunks_mut(ROWS_PER_TASK))
        .try_for_each(|((rows, targets), losses)| {
            for ((row, &y), loss) in rows.chunks_exact_mut(vocab).zip(targets).zip(losses) {
                *loss = row_forward(row, y as usize)?;
            }
            Ok::<_, TrainError>(())
        })?;
    let total: f64 = row_loss.iter().map(|&l| f64::from(l)).sum();
    Ok((total / targets.len() as f64) as f32)
}

/// Softmax of one row in place; returns `(z_max − z_y) − ln p_max`.
fn row_forward(row: &mut [f32], target: usize) -> Result<f32> {
    let (arg_max, z_max) =
        row.iter()
            .copied()
            .enumerate()
            .fold((0, f32::NEG_INFINITY), |best, (j, z)| {
                if z > best.1 { (j, z) } else { best }
            });
    let z_target = row[target];
    softmax_row_inplace(row, row.len())?;
    let lse_minus_max = -f64::from(row[arg_max]).ln();
    Ok((f64::from(z_max) - f64::from(z_target) + lse_minus_max) as f32)
}

/// Turns the probabilities left by [`cross_entropy_forward`] into
/// `scale · ∂(mean loss)/∂logits = scale·(p − onehot(y))/rows`, in place.
///
/// # Errors
/// As [`cross_entropy_forward`].
pub fn cross_entropy_backward(
    probs: &mut [f32],
    targets: &[u32],
    vocab: usize,
    scale: f32,
) -> Result<()> {
    check(probs, targets, vocab)?;
    if targets.is_empty() {
        return Ok(());
    }
    let s = scale / targets.len() as f32;
    probs
        .par_chunks_mut(vocab * ROWS_PER_TASK)
        .zip(targets.par_chunks(ROWS_PER_TASK))
        .for_each(|(rows, targets)| {
            for (row, &y) in rows.chunks_exact_mut(vocab).zip(targets) {
                row.iter_mut().for_each(|p| *p *= s);
                row[y as usize] -= s;
            }
        });
    Ok(())
}

/// `(rows, vocab)` logits against `(rows,)` targets inside the vocabulary.
fn check(logits: &[f32], targets: &[u32], vocab: usize) -> Result<()> {
    let expected = targets.len().checked_mul(vocab).ok_or_else(|| {
        TrainError::InvalidInput(format!("{} rows of {vocab} logits overflow", targets.len()))
    })?;
    check_len("logits", expected, logits.len())?;
    if let Some((i, &y)) = targets
        .iter()
        .enumerate()
        .find(|&(_, &y)| y as usize >= vocab)
    {
        return Err(TrainError::InvalidInput(format!(
            "targets[{i}] = {y} is outside the vocabulary of {vocab}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loss and gradient against a direct f64 evaluation.
    #[test]
    fn matches_f64_log_sum_exp() {
        let vocab = 7;
        let mut logits: Vec<f32> = (0..3 * vocab)
            .map(|i| ((i * 37 % 11) as f32) - 5.0)
            .collect();
        logits[4] = 90.0; // a confident row: p of the other targets underflows in −ln p
        let original = logits.clone();
        let targets = [1u32, 6, 3];
        let mut row_loss = vec![0.0; 3];
        let loss = cross_entropy_forward(&mut logits, &targets, vocab, &mut row_loss).unwrap();
        let mut expected = 0.0;
        for (r, &y) in targets.iter().enumerate() {
            let row = &original[r * vocab..(r + 1) * vocab];
            let m = row
                .iter()
                .fold(f64::NEG_INFINITY, |a, &b| a.max(f64::from(b)));
            let lse = m + row
                .iter()
                .map(|&z| (f64::from(z) - m).exp())
                .sum::<f64>()
                .ln();
            expected += lse - f64::from(row[y as usize]);
        }
        expected /= 3.0;
        assert!(
            (f64::from(loss) - expected).abs() < 1e-5 * expected,
            "{loss} vs {expected}"
        );
        cross_entropy_backward(&mut logits, &targets, vocab, 2.0).unwrap();
        for (r, row) in logits.chunks_exact(vocab).enumerate() {
            // Each gradient row sums to zero.
            assert!(row.iter().sum::<f32>().abs() < 1e-6, "row {r}");
        }
    }

    #[test]
    fn bad_targets_are_errors() {
        let mut logits = vec![0.0; 6];
        let mut row_loss = vec![0.0; 2];
        let err = cross_entropy_forward(&mut logits, &[0, 3], 3, &mut row_loss).unwrap_err();
        assert!(err.to_string().contains("targets[1] = 3"), "{err}");
        assert!(cross_entropy_forward(&mut logits, &[0], 3, &mut row_loss).is_err());
    }
}
