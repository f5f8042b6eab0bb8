//! Rotary position embeddings (Su et al. 2021, "RoFormer") applied to the
//! query and key parts of projected rows, in the Hugging Face rotate-half
//! convention (pairs `(i, i + D/2)`), with base θ (`rope_theta`).
//!
//! The cos/sin tables for every position a session can reach are computed once
//! when the session is planned ([`RopeTable::new`]); applying them borrows a
//! row per position.

use smallmind_kernels::rope::{rope_rotate_half_inplace, rope_tables};

use crate::OpsError;
use crate::attention::AttentionShape;
use crate::matrix::MatMut;

/// Precomputed `(positions, D/2)` cos and sin tables.
#[derive(Clone, Debug)]
pub struct RopeTable {
    cos: Vec<f32>,
    sin: Vec<f32>,
    half: usize,
}

impl RopeTable {
    /// Tables for positions `0..positions` of heads of width `head_dim`.
    ///
    /// # Errors
    /// [`OpsError::Kernel`] for an odd or zero `head_dim`.
    pub fn new(theta: f32, head_dim: usize, positions: usize) -> Result<Self, OpsError> {
        let half = head_dim / 2;
        let mut cos = vec![0.0; positions * half];
        let mut sin = vec![0.0; positions * half];
        rope_tables(theta, head_dim, 0..positions, &mut cos, &mut sin)?;
        Ok(RopeTable { cos, sin, half })
    }

    /// Tables whose frequency `i` is divided by `divisors[i]`:
    /// `cos(p · θ^(−2i/D) / divisors[i])` (Llama 3's frequency bands, linear
    /// position interpolation, GGUF `rope_freqs.weight`). Computed in f64 and
    /// rounded once, like [`RopeTable::new`], which equals this with every
    /// divisor 1.
    ///
    /// # Errors
    /// [`OpsError::Kernel`] for an odd or zero `head_dim`; [`OpsError::Shape`]
    /// unless there are `head_dim/2` finite, positive divisors.
    pub fn with_divisors(
        theta: f32,
        head_dim: usize,
        divisors: &[f32],
        positions: usize,
    ) -> Result<Self, OpsError> {
        let mut table = RopeTable::new(theta, head_dim, 0)?;
        let half = table.half;
        if divisors.len() != half || divisors.iter().any(|d| !(d.is_finite() && *d > 0.0)) {
            return Err(OpsError::Shape {
                op: "RopeTable::with_divisors",
                what: format!(
                    "{} divisors for heads of width {head_dim}: need {half}, each finite and > 0",
                    divisors.len()
                ),
            });
        }
        let inv_freq: Vec<f64> = divisors
            .iter()
            .enumerate()
            .map(|(i, &d)| f64::from(theta).powf(-2.0 * i as f64 / head_dim as f64) / f64::from(d))
            .collect();
        table.cos = Vec::with_capacity(positions * half);
        table.sin = Vec::with_capacity(positions * half);
        for p in 0..positions {
            for &f in &inv_freq {
                let (sin, cos) = (p as f64 * f).sin_cos();
                table.cos.push(cos as f32);
                table.sin.push(sin as f32);
            }
        }
        Ok(table)
    }

    /// Positions covered.
    pub fn positions(&self) -> usize {
        self.cos.len().checked_div(self.half).unwrap_or(0)
    }

    /// Rotates the query heads (columns `0..H·D`) and key heads (columns
    /// `H·D..H·D + Hkv·D`) of each row of `qk`, row `t` at position `pos0 + t`.
    ///
    /// # Errors
    /// [`OpsError::Shape`] when a position is past the table or the rows are
    /// narrower than the query and key parts.
    pub fn apply_qk(
        &self,
        shape: &AttentionShape,
        qk: &mut MatMut<'_>,
        pos0: usize,
    ) -> Result<(), OpsError> {
        let (q_dim, kv_dim, d) = (shape.q_dim(), shape.kv_dim(), shape.head_dim);
        if qk.cols < q_dim + kv_dim || pos0 + qk.rows > self.positions() || 2 * self.half != d {
            return Err(OpsError::Shape {
                op: "rope",
                what: format!(
                    "rows of {} columns at positions {pos0}..{}, need ≥ {} columns, \
                     ≤ {} positions and head width {}",
                    qk.cols,
                    pos0 + qk.rows,
                    q_dim + kv_dim,
                    self.positions(),
                    2 * self.half
                ),
            });
        }
        for t in 0..qk.rows {
            let p = pos0 + t;
            let cos = &self.cos[p * self.half..(p + 1) * self.half];
            let sin = &self.sin[p * self.half..(p + 1) * self.half];
            let row = qk.row_mut(t);
            rope_rotate_half_inplace(&mut row[..q_dim], shape.n_heads, d, cos, sin)?;
            rope_rotate_half_inplace(
                &mut row[q_dim..q_dim + kv_dim],
                shape.n_kv_heads,
                d,
                cos,
                sin,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_divisors_give_the_plain_tables_and_others_divide_the_frequency() {
        let plain = RopeTable::new(10_000.0, 8, 50).unwrap();
        let unit = RopeTable::with_divisors(10_000.0, 8, &[1.0; 4], 50).unwrap();
        assert_eq!(plain.cos, unit.cos);
        assert_eq!(plain.sin, unit.sin);
        let scaled = RopeTable::with_divisors(10_000.0, 8, &[1.0, 2.0, 4.0, 8.0], 50).unwrap();
        for p in 0..50 {
            for i in 0..4 {
                let f = 10_000f64.powf(-2.0 * i as f64 / 8.0) / f64::from(1u8 << i);
                let want = (p as f64 * f).cos() as f32;
                assert_eq!(scaled.cos[p * 4 + i], want, "position {p}, pair {i}");
            }
        }
    }

    #[test]
    fn bad_divisors_are_an_error() {
        for bad in [
            &[1.0, 1.0, 1.0][..],
            &[1.0, 0.0, 1.0, 1.0],
            &[1.0, f32::NAN, 1.0, 1.0],
        ] {
            assert!(
                RopeTable::with_divisors(10_000.0, 8, bad, 4).is_err(),
                "{bad:?}"
            );
        }
    }
}
