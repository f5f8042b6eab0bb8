//! ggml `IQ4_NL`: 32 weights per block, 18 bytes, `x = d·T[q]` with a 4-bit
//! index `q` into the non-linear codebook `T` = [`IQ4_VALUES`]
//! (−127 … 113, denser near 0).
//!
//! Layout ([`BlockIq4Nl`], alignment 2): `d` (f16, bytes 0..2), then 16 bytes
//! of indices: `q[j]` for `j < 16` is the low nibble of `qs[j]`, `q[j + 16]`
//! its high nibble (the order of Q4_0).
//!
//! Quantizer (ggml's `quantize_row_iq4_nl_impl` with weights `w = x²`, no
//! importance matrix): `m` is the first value of largest `|x|` (a block below
//! 10⁻¹⁵ gets `d = 0` and every index 8, the entry nearest 0; ggml's
//! `quantize_row_iq4_nl_ref` leaves those indices unset). Each candidate
//! inverse scale `id` maps `x` to the nearest codebook entry
//! (`q = argmin |id·x − T[q]|`, ties to the lower entry); the fitted scale of
//! that assignment is `Σ w·T[q]·x / Σ w·T[q]²`, and a candidate wins if it
//! raises `(Σ w·T[q]·x)² / Σ w·T[q]²`. There are two variants:
//! - [`BlockFormat::quantize_block`](crate::quant::BlockFormat::quantize_block) (ggml's `quantize_iq4_nl`, what
//!   `llama-quantize` runs, 7 tries): first `id = 1/(m/127)`, then `id = (t − 127)/m` for
//!   `t = −7 ..= 7`; `d` is the best fitted scale, and the indices are
//!   re-chosen with `id = 1/d`;
//! - [`BlockIq4Nl::quantize_ref`] (ggml's `quantize_row_iq4_nl_ref`, the type's
//!   `from_float_ref`): only the assignment of `id = 1/(m/−127)`, with its
//!   fitted scale.
//!
//! `d` is stored as f16. Dot (ggml pairs IQ4_NL with [`BlockQ8_0`]
//! activations): per block `(d_x·d_w)·Σ_j T[q_j]·x_j`; the scalar
//! [`WeightFormat::dot_block`](crate::quant::WeightFormat::dot_block) is
//! ggml's `ggml_vec_dot_iq4_nl_q8_0_generic` per block. The x86 tiles look
//! the nibbles up in `T` with `vpshufb`: signed `T[q]` (|T| ≤ 127 could
//! saturate `vpmaddubsw`, so AVX2 widens to i16 as for Q8_0), or on VNNI the
//! unsigned `T[q] ^ 0x80` (bias 128).

#[cfg(target_arch = "x86_64")]
use core::arch::x86_64::*;

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::block32::{Block32, Operand, unpack_nibble, weight_format_32};
use super::q8_0::BlockQ8_0;
use super::search::GROUP_MAX_EPS;
use super::{IQ4_VALUES, inv_or_zero, quantize_blocks};
use crate::KernelError;
use crate::quant::QK;
#[cfg(target_arch = "x86_64")]
use crate::quant::x86::blocks32 as x86;

/// The codebook index whose entry (1) is nearest 0.
const INDEX_NEAR_ZERO: u8 = 8;

/// An IQ4_NL block (see the module docs).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct BlockIq4Nl {
    /// Scale.
    pub d: f16,
    /// Codebook indices: weight `j < 16` in the low nibble of `qs[j]`, `j + 16` high.
    pub qs: [u8; QK / 2],
}

impl BlockIq4Nl {
    /// The codebook values `T[q]` (in `−127..=113`): `x = d·v`.
    #[inline(always)]
    pub fn values(&self) -> [i8; QK] {
        unpack_codebook(&self.qs)
    }

    /// ggml's `quantize_row_iq4_nl_ref` (see the module docs).
    pub fn quantize_ref(x: &[f32; QK]) -> Self {
        let mut q = [INDEX_NEAR_ZERO; QK];
        let d = fit_scale(x, -1, &mut q);
        Self::pack(d, &q)
    }

    /// What `llama-quantize` writes (ggml's `quantize_iq4_nl` without an
    /// importance matrix; see the module docs).
    #[inline(always)]
    fn quantize(x: &[f32; QK]) -> Self {
        let mut q = [INDEX_NEAR_ZERO; QK];
        let d = fit_scale(x, 7, &mut q);
        let id = inv_or_zero(d);
        for (l, &v) in q.iter_mut().zip(x) {
            *l = best_index(id * v);
        }
        Self::pack(d, &q)
    }

    fn pack(d: f32, q: &[u8; QK]) -> Self {
        let mut qs = [0u8; QK / 2];
        pack_nibbles(q, &mut qs);
        Self {
            d: f16::from_f32(d),
            qs,
        }
    }
}

/// The codebook values of 32 indices packed as in Q4_0 (`j` low, `j + 16` high).
#[inline(always)]
pub(crate) fn unpack_codebook(qs: &[u8; 16]) -> [i8; 32] {
    let mut v = [0i8; 32];
    for (j, &byte) in qs.iter().enumerate() {
        v[j] = IQ4_VALUES[usize::from(byte & 0x0F)];
        v[j + 16] = IQ4_VALUES[usize::from(byte >> 4)];
    }
    v
}

/// Packs 32 indices (`< 16`) as in Q4_0: `j` low nibble, `j + 16` high.
#[inline(always)]
pub(crate) fn pack_nibbles(q: &[u8; 32], qs: &mut [u8; 16]) {
    for (j, b) in qs.iter_mut().enumerate() {
        *b = q[j] | (q[j + 16] << 4);
    }
}

/// ggml's `best_index_int8` on [`IQ4_VALUES`]: the index of the entry nearest
/// `x` (the lower one on a tie; 0 or 15 outside the range, 15 for NaN).
#[inline(always)]
pub(crate) fn best_index(x: f32) -> u8 {
    let t = |i: usize| f32::from(IQ4_VALUES[i]);
    if x <= t(0) {
        return 0;
    }
    if x >= t(15) {
        return 15;
    }
    let (mut lo, mut hi) = (0usize, 15usize);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if x < t(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    if x - t(hi - 1) < t(hi) - x {
        (hi - 1) as u8
    } else {
        hi as u8
    }
}

/// `(Σ w·T[q]·x, Σ w·T[q]²)` with `w = x²` for the indices `id·x` rounds to;
/// writes the indices to `q` when given.
#[inline(always)]
fn assignment_sums(x: &[f32; 32], id: f32, mut q: Option<&mut [u8; 32]>) -> (f32, f32) {
    let (mut sumqx, mut sumq2) = (0.0f32, 0.0f32);
    for (j, &v) in x.iter().enumerate() {
        let l = best_index(id * v);
        if let Some(q) = q.as_deref_mut() {
            q[j] = l;
        }
        let t = f32::from(IQ4_VALUES[usize::from(l)]);
        let w = v * v;
        sumqx += w * t * v;
        sumq2 += w * t * t;
    }
    (sumqx, sumq2)
}

/// The scale search of ggml's `quantize_row_iq4_nl_impl` for one block of 32
/// (no importance matrix): returns the fitted scale and leaves the first
/// candidate's indices in `q`. The first candidate is `id = 1/(m/127)` for
/// `ntry > 0`, `1/(m/−127)` otherwise; then `id = (t − 127)/m` for
/// `t = −ntry ..= ntry` (none for `ntry < 0`). A block below
/// [`GROUP_MAX_EPS`] returns 0 and leaves `q` as it was.
pub(crate) fn fit_scale(x: &[f32; 32], ntry: i32, q: &mut [u8; 32]) -> f32 {
    let mut amax = 0.0f32;
    let mut max = 0.0f32;
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        return 0.0;
    }
    let t0 = f32::from(IQ4_VALUES[0]);
    let d = if ntry > 0 { -max / t0 } else { max / t0 };
    let (sumqx, sumq2) = assignment_sums(x, 1.0 / d, Some(q));
    let mut d = if sumq2 > 0.0 { sumqx / sumq2 } else { 0.0 };
    let mut best = d * sumqx;
    for t in -ntry..=ntry {
        let id = (t + i32::from(IQ4_VALUES[0])) as f32 / max;
        let (sumqx, sumq2) = assignment_sums(x, id, None);
        if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    d
}

/// Quantizes whole blocks with ggml's `quantize_row_iq4_nl_ref`
/// ([`BlockIq4Nl::quantize_ref`]); [`quantize`](crate::quant::quantize) is
/// what `llama-quantize` writes instead.
///
/// # Errors
/// As [`quantize`](crate::quant::quantize).
pub fn quantize_row_ref(x: &[f32], out: &mut [BlockIq4Nl]) -> Result<(), KernelError> {
    quantize_blocks("iq4_nl::quantize_row_ref", x, out, BlockIq4Nl::quantize_ref)
}

weight_format_32!(BlockIq4Nl, "iq4_nl", bytes 18, act BlockQ8_0, gemv_rows crate::quant::isa::ROWS);

/// The codebook as the unsigned operand of VNNI: `T[i] ^ 0x80 = T[i] + 128`.
#[cfg(target_arch = "x86_64")]
const IQ4_UNSIGNED: [u8; 16] = {
    let mut u = [0u8; 16];
    let mut i = 0;
    while i < 16 {
        u[i] = (IQ4_VALUES[i] as u8) ^ 0x80;
        i += 1;
    }
    u
};

impl Block32 for BlockIq4Nl {
    const OPERAND: Operand = Operand::Signed;

    #[inline(always)]
    fn value(&self, j: usize) -> i32 {
        i32::from(IQ4_VALUES[usize::from(unpack_nibble(&self.qs, j))])
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn unpack_256(&self) -> __m256i {
        // SAFETY: a 16-byte read of the codebook and register operations;
        // AVX2 is the caller's contract.
        unsafe {
            let table = _mm256_broadcastsi128_si256(_mm_loadu_si128(IQ4_VALUES.as_ptr().cast()));
            _mm256_shuffle_epi8(table, x86::unpack_nibbles(&self.qs))
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn pair_operand_512(pair: *const Self) -> __m512i {
        // SAFETY: `pair` is two blocks (36 bytes), the caller's contract, as
        // are the CPU features; the table read is 16 bytes.
        unsafe {
            let idx = x86::nibble_pair(pair);
            let table = _mm512_broadcast_i32x4(_mm_loadu_si128(IQ4_UNSIGNED.as_ptr().cast()));
            _mm512_shuffle_epi8(table, idx)
        }
    }
}
