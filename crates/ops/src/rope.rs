//! Rotary position embeddings (Su et al. 2021, "RoFormer") applied to the
//! query and key parts of projected rows, in the Hugging Face rotate-half
//! convention (pairs `(i, i + R/2)`), with base θ (`rope_theta`), over the
//! first `R` dims of each head of width `D` (`R = D` unless the rotary is
//! partial, as in Phi-3.5/Phi-4: the last `D − R` dims pass through).
//!
//! The cos/sin tables for every position a session can reach are computed once
//! when the session is planned ([`RopeTable::new`]); applying them borrows a
//! row per position.

use smallmind_kernels::rope::{rope_rotate_half_inplace, rope_tables};

use crate::OpsError;
use crate::attention::AttentionShape;
use crate::matrix::MatMut;

/// Precomputed `(positions, R/2)` cos and sin tables (`R`: the rotary width).
#[derive(Clone, Debug)]
pub struct RopeTable {
    cos: Vec<f32>,
    sin: Vec<f32>,
    half: usize,
}

impl RopeTable {
    /// Tables for positions `0..positions` of a rotary width `head_dim` (the
    /// whole head, or its rotating part).
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
        RopeTable::scaled(theta, head_dim, divisors, 1.0, positions)
    }

    /// As [`RopeTable::with_divisors`], with every cos and sin multiplied by
    /// `scale` (before the one rounding to f32): the "attention factor" of
    /// YaRN (Peng et al. 2023, `0.1·ln(s) + 1`) and LongRoPE (Ding et al.
    /// 2024, `√(1 + ln(s)/ln(L₀))`), which scales every query·key score by
    /// `scale²`, as transformers' `attention_scaling` does.
    ///
    /// # Errors
    /// As [`RopeTable::with_divisors`]; [`OpsError::Shape`] for a `scale`
    /// that is not finite and > 0.
    pub fn scaled(
        theta: f32,
        head_dim: usize,
        divisors: &[f32],
        scale: f32,
        positions: usize,
    ) -> Result<Self, OpsError> {
        let mut table = RopeTable::new(theta, head_dim, 0)?;
        let half = table.half;
        let bad_divisor = |d: &f32| !(d.is_finite() && *d > 0.0);
        if divisors.len() != half || divisors.iter().any(bad_divisor) || bad_divisor(&scale) {
            return Err(OpsError::Shape {
                op: "RopeTable::scaled",
                what: format!(
                    "{} divisors for a rotary width {head_dim}, scale {scale}: need {half} \
                     divisors, each finite and > 0, and a finite scale > 0",
                    divisors.len()
                ),
            });
        }
        let inv_freq: Vec<f64> = divisors
            .iter()
            .enumerate()
            .map(|(i, &d)| f64::from(theta).powf(-2.0 * i as f64 / head_dim as f64) / f64::from(d))
            .collect();
        let scale = f64::from(scale);
        table.cos = Vec::with_capacity(positions * half);
        table.sin = Vec::with_capacity(positions * half);
        for p in 0..positions {
            for &f in &inv_freq {
                let (sin, cos) = (p as f64 * f).sin_cos();
                table.cos.push((cos * scale) as f32);
                table.sin.push((sin * scale) as f32);
            }
        }
        Ok(table)
    }

    /// Positions covered.
    pub fn positions(&self) -> usize {
        self.cos.len().checked_div(self.half).unwrap_or(0)
    }

    /// Rotates the query heads (columns `0..H·D`) and key heads (columns
    /// `H·D..H·D + Hkv·D`) of each row of `qk`, row `t` at position `pos0 + t`:
    /// the first `R` dims of each head (`R` the table's rotary width ≤ `D`).
    ///
    /// # Errors
    /// [`OpsError::Shape`] when a position is past the table or the rows are
    /// narrower than the query and key parts, or the rotary width exceeds
    /// the head width.
    pub fn apply_qk(
        &self,
        shape: &AttentionShape,
        qk: &mut MatMut<'_>,
        pos0: usize,
    ) -> Result<(), OpsError> {
        let (q_dim, kv_dim, d) = (shape.q_dim(), shape.kv_dim(), shape.head_dim);
        if qk.cols < q_dim + kv_dim || pos0 + qk.rows > self.positions() || 2 * self.half > d {
            return Err(OpsError::Shape {
                op: "rope",
                what: format!(
                    "rows of {} columns at positions {pos0}..{}, need ≥ {} columns, \
                     ≤ {} positions and a head width ≥ the rotary width {}",
                    qk.cols,
                    pos0 + qk.rows,
                    q_dim + kv_dim,
                    self.positions(),
                    2 * self.half
                ),
            });
        }
        let partial = 2 * self.half < d;
        for t in 0..qk.rows {
            let p = pos0 + t;
            let cos = &self.cos[p * self.half..(p + 1) * self.half];
            let sin = &self.sin[p * self.half..(p + 1) * self.half];
            let row = &mut qk.row_mut(t)[..q_dim + kv_dim];
            if partial {
                self.rotate_heads_partially(row, d, cos, sin)?;
            } else {
                let (q, k) = row.split_at_mut(q_dim);
                rope_rotate_half_inplace(q, shape.n_heads, d, cos, sin)?;
                rope_rotate_half_inplace(k, shape.n_kv_heads, d, cos, sin)?;
            }
        }
        Ok(())
    }

    /// Partial rotary: the first `R` dims of every head (query and key heads
    /// alike) of width `head_dim` in `row` rotate, the rest pass through.
    fn rotate_heads_partially(
        &self,
        row: &mut [f32],
        head_dim: usize,
        cos: &[f32],
        sin: &[f32],
    ) -> Result<(), OpsError> {
        let rotary = 2 * self.half;
        for head in row.chunks_exact_mut(head_dim) {
            rope_rotate_half_inplace(&mut head[..rotary], 1, rotary, cos, sin)?;
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
    fn a_scale_multiplies_cos_and_sin_and_unit_scale_changes_nothing() {
        let divisors = [1.0, 2.0, 4.0, 8.0];
        let plain = RopeTable::with_divisors(10_000.0, 8, &divisors, 20).unwrap();
        let unit = RopeTable::scaled(10_000.0, 8, &divisors, 1.0, 20).unwrap();
        assert_eq!(plain.cos, unit.cos);
        assert_eq!(plain.sin, unit.sin);
        let scaled = RopeTable::scaled(10_000.0, 8, &divisors, 1.5, 20).unwrap();
        for (i, (s, p)) in scaled.sin.iter().zip(&plain.sin).enumerate() {
            assert!((s - 1.5 * p).abs() <= 1e-6, "entry {i}: {s} vs 1.5 × {p}");
        }
        assert!(RopeTable::scaled(10_000.0, 8, &divisors, f32::NAN, 4).is_err());
        assert!(RopeTable::scaled(10_000.0, 8, &divisors, 0.0, 4).is_err());
    }

    #[test]
    fn partial_rotary_rotates_the_leading_dims_of_each_head_only() {
        // 2 query heads and 1 key head of width 6, the first 4 dims rotating.
        let shape = AttentionShape::new(2, 1, 6).unwrap();
        let table = RopeTable::new(10_000.0, 4, 8).unwrap();
        let row: Vec<f32> = (0..18).map(|i| (i as f32 * 0.37).sin() + 0.1).collect();
        let pos = 5;
        let mut got = row.clone();
        table
            .apply_qk(&shape, &mut MatMut::new(&mut got, 1, 18).unwrap(), pos)
            .unwrap();
        for head in 0..3 {
            let mut want = row[head * 6..head * 6 + 4].to_vec();
            let (cos, sin) = (
                &table.cos[pos * 2..pos * 2 + 2],
                &table.sin[pos * 2..pos * 2 + 2],
            );
            smallmind_kernels::rope::rope_rotate_half_inplace_ref(&mut want, 1, 4, cos, sin)
                .unwrap();
            for (g, w) in got[head * 6..head * 6 + 4].iter().zip(&want) {
                assert!((g - w).abs() <= 1e-6, "head {head} rotated: {g} vs {w}");
            }
            assert_eq!(
                &got[head * 6 + 4..head * 6 + 6],
                &row[head * 6 + 4..head * 6 + 6],
                "head {head} passes its last dims through"
            );
        }
        let too_wide = RopeTable::new(10_000.0, 8, 8).unwrap();
        let mut row = row;
        assert!(
            too_wide
                .apply_qk(&shape, &mut MatMut::new(&mut row, 1, 18).unwrap(), 0)
                .is_err(),
            "a rotary width past the head width is an error"
        );
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
