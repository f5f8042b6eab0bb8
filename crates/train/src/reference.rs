//! A scalar f64 forward pass and loss of a whole GPT-2 model: plain loops,
//! obviously correct, slow. It is the oracle of the finite-difference
//! gradient tests (central differences of this loss in f64) and a check of
//! the f32 loss; it shares no code with [`crate::Gpt2Trainer`].
//!
//! Same equations as [`crate::gpt2`]: pre-norm blocks, LayerNorm with the
//! biased variance, causal attention with scale `1/√D`, GELU-tanh, the LM
//! head `z·W_headᵀ` (tied to `wte` or `lm_head.weight`), mean cross-entropy
//! `log Σ e^z − z_y` over all `B·T` rows.

use smallmind_model::ModelConfig;

use crate::error::{Result, TrainError};
use crate::params::ParamLayout;

/// The mean cross-entropy of `targets` given `inputs` (both `(batch, context)`
/// row-major) under `params` (a flat buffer in [`ParamLayout::gpt2`] order),
/// all in f64.
///
/// # Errors
/// The layout's config errors; [`TrainError::ShapeMismatch`] /
/// [`TrainError::InvalidInput`] for bad lengths, tokens, or a context past
/// the position table.
pub fn gpt2_loss_ref(
    config: &ModelConfig,
    params: &[f64],
    inputs: &[u32],
    targets: &[u32],
    batch: usize,
    context: usize,
) -> Result<f64> {
    let layout = ParamLayout::gpt2(config)?;
    check(config, &layout, params, inputs, targets, batch, context)?;
    let w = |name: &str| {
        let e = layout
            .find(name)
            .expect("every GPT-2 name is in the layout");
        &params[e.range()]
    };
    let c = config.hidden_size;
    let head = if config.tie_word_embeddings {
        w("transformer.wte.weight")
    } else {
        w("lm_head.weight")
    };
    let mut total = 0.0;
    for (tokens, ys) in inputs
        .chunks_exact(context)
        .zip(targets.chunks_exact(context))
    {
        // x (T, C) = wte[tokens] + wpe[0..T].
        let mut x: Vec<Vec<f64>> = tokens
            .iter()
            .enumerate()
            .map(|(t, &tok)| {
                let e = &w("transformer.wte.weight")[tok as usize * c..][..c];
                let p = &w("transformer.wpe.weight")[t * c..][..c];
                e.iter().zip(p).map(|(a, b)| a + b).collect()
            })
            .collect();
        for l in 0..config.num_layers {
            let pw = |s: &str| w(&format!("transformer.h.{l}.{s}"));
            let a = layer_norm(&x, pw("ln_1.weight"), pw("ln_1.bias"), config.norm_eps);
            let qkv = conv1d(&a, pw("attn.c_attn.weight"), pw("attn.c_attn.bias"));
            let y = attention(&qkv, config.num_heads, config.head_dim);
            let o = conv1d(&y, pw("attn.c_proj.weight"), pw("attn.c_proj.bias"));
            add(&mut x, &o);
            let h = layer_norm(&x, pw("ln_2.weight"), pw("ln_2.bias"), config.norm_eps);
            let mut u = conv1d(&h, pw("mlp.c_fc.weight"), pw("mlp.c_fc.bias"));
            u.iter_mut().flatten().for_each(|v| *v = gelu_tanh(*v));
            let m = conv1d(&u, pw("mlp.c_proj.weight"), pw("mlp.c_proj.bias"));
            add(&mut x, &m);
        }
        let z = layer_norm(
            &x,
            w("transformer.ln_f.weight"),
            w("transformer.ln_f.bias"),
            config.norm_eps,
        );
        for (row, &y) in z.iter().zip(ys) {
            let logits: Vec<f64> = head.chunks_exact(c).map(|e| dot(row, e)).collect();
            let max = logits.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
            let lse = max + logits.iter().map(|&v| (v - max).exp()).sum::<f64>().ln();
            total += lse - logits[y as usize];
        }
    }
    Ok(total / inputs.len() as f64)
}

fn check(
    config: &ModelConfig,
    layout: &ParamLayout,
    params: &[f64],
    inputs: &[u32],
    targets: &[u32],
    batch: usize,
    context: usize,
) -> Result<()> {
    let n = batch * context;
    for (what, expected, actual) in [
        ("params", layout.len(), params.len()),
        ("inputs", n, inputs.len()),
        ("targets", n, targets.len()),
    ] {
        if expected != actual {
            return Err(TrainError::ShapeMismatch {
                what: what.into(),
                expected,
                actual,
            });
        }
    }
    if n == 0 || context > config.max_position_embeddings {
        return Err(TrainError::InvalidInput(format!(
            "batch {batch} × context {context} (at most {} positions)",
            config.max_position_embeddings
        )));
    }
    if let Some(&tok) = inputs
        .iter()
        .chain(targets)
        .find(|&&tok| tok as usize >= config.vocab_size)
    {
        return Err(TrainError::InvalidInput(format!(
            "token {tok} is outside the vocabulary of {}",
            config.vocab_size
        )));
    }
    Ok(())
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn add(x: &mut [Vec<f64>], y: &[Vec<f64>]) {
    for (xr, yr) in x.iter_mut().zip(y) {
        xr.iter_mut().zip(yr).for_each(|(a, b)| *a += b);
    }
}

/// `(x − μ)/√(σ² + eps)·γ + β` per row, biased variance.
fn layer_norm(x: &[Vec<f64>], gamma: &[f64], beta: &[f64], eps: f32) -> Vec<Vec<f64>> {
    x.iter()
        .map(|row| {
            let n = row.len() as f64;
            let mean = row.iter().sum::<f64>() / n;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
            let r = 1.0 / (var + f64::from(eps)).sqrt();
            row.iter()
                .zip(gamma.iter().zip(beta))
                .map(|(v, (g, b))| (v - mean) * r * g + b)
                .collect()
        })
        .collect()
}

/// `x (T, in)·W (in, out) + b`.
fn conv1d(x: &[Vec<f64>], w: &[f64], b: &[f64]) -> Vec<Vec<f64>> {
    let out = b.len();
    x.iter()
        .map(|row| {
            let mut y = b.to_vec();
            for (xi, wrow) in row.iter().zip(w.chunks_exact(out)) {
                y.iter_mut().zip(wrow).for_each(|(yj, wij)| *yj += xi * wij);
            }
            y
        })
        .collect()
}

/// Causal attention of `qkv (T, 3C)` with `heads` heads of width `d`.
fn attention(qkv: &[Vec<f64>], heads: usize, d: usize) -> Vec<Vec<f64>> {
    let c = heads * d;
    let scale = 1.0 / (d as f64).sqrt();
    let mut y = vec![vec![0.0; c]; qkv.len()];
    for h in 0..heads {
        let cols = |row: &Vec<f64>, part: usize| row[part * c + h * d..][..d].to_vec();
        for (i, yi) in y.iter_mut().enumerate() {
            let q = cols(&qkv[i], 0);
            let scores: Vec<f64> = (0..=i)
                .map(|j| scale * dot(&q, &cols(&qkv[j], 1)))
                .collect();
            let max = scores.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
            let e: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
            let sum: f64 = e.iter().sum();
            for (j, ej) in e.iter().enumerate() {
                let v = cols(&qkv[j], 2);
                for (o, vj) in yi[h * d..(h + 1) * d].iter_mut().zip(&v) {
                    *o += ej / sum * vj;
                }
            }
        }
    }
    y
}

/// GELU, tanh form (HF `gelu_new`).
fn gelu_tanh(x: f64) -> f64 {
    let u = (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x);
    0.5 * x * (1.0 + u.tanh())
}
