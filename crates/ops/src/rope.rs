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
