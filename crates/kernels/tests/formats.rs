//! The scalar reference layer of the weight formats (`quant::formats`) against
//! `fixtures/formats/formats.safetensors`, written by
//! `scripts/fixtures/make_format_fixtures.py` (its README says what each tensor is):
//! - dequantization, bit for bit, against gguf-py's `gguf.quants.dequantize` of ggml's
//!   quantized rows and of random blocks;
//! - quantization, byte for byte, against llama.cpp's ggml (`ggml_quantize_chunk` without
//!   importance matrix, and `quantize_row_iq4_nl_ref`);
//! - the row dot, bit for bit, against ggml's generic scalar `vec_dot` on ggml's own
//!   activation blocks (for the registry's formats: the scalar block dot
//!   `WeightFormat::dot_block` summed in block order from 0);
//! - the integer views of the 256-value formats against their dequantizers, and bad lengths
//!   as errors.

use bytemuck::{Pod, Zeroable};
use half::f16;
use safetensors::{Dtype, SafeTensors};
use smallmind_kernels::KernelError;
use smallmind_kernels::quant::formats::iq4_nl::quantize_row_ref as iq4_nl_quantize_row_ref;
use smallmind_kernels::quant::formats::{
    BlockIq2S, BlockIq2Xs, BlockIq2Xxs, BlockIq3S, BlockIq3Xxs, BlockIq4Nl, BlockIq4Xs, BlockQ2K,
    BlockQ3K, BlockQ5_0, BlockQ5_1, BlockQ5K, SubBlocks,
};
use smallmind_kernels::quant::{
    BlockFormat, BlockQ8_0, BlockQ8_1, BlockQ8K, QK, QK_K, WeightFormat, dequantize, dot, quantize,
    quantize_ref,
};
use smallmind_kernels::{SimdPath, with_path};
use smallmind_testkit::{Worst, fixture, max_scaled_diff, pod_vec};

/// Values per fixture row.
const K: usize = 512;

/// One tensor of the fixture: its shape and raw little-endian bytes.
struct Tensor {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

fn tensor(name: &str, dtype: Dtype) -> Tensor {
    let path = fixture("formats/formats.safetensors");
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let tensors = SafeTensors::deserialize(&data).expect("valid safetensors");
    let view = tensors
        .tensor(name)
        .unwrap_or_else(|e| panic!("tensor {name}: {e}"));
    assert_eq!(view.dtype(), dtype, "{name}");
    Tensor {
        shape: view.shape().to_vec(),
        bytes: view.data().to_vec(),
    }
}

fn f32s(name: &str) -> Vec<f32> {
    pod_vec(&tensor(name, Dtype::F32).bytes)
}

/// `(rows, blocks)`: the U8 tensor `name` as rows of blocks.
fn block_rows<F: Pod>(name: &str) -> (usize, Vec<F>) {
    let t = tensor(name, Dtype::U8);
    (t.shape[0], pod_vec(&t.bytes))
}

/// ggml's activation blocks, as the engine's activation type.
trait GgmlAct: Sized {
    fn from_ggml(bytes: &[u8]) -> Vec<Self>;
}

/// ggml's `block_q8_K` is ours byte for byte.
impl GgmlAct for BlockQ8K {
    fn from_ggml(bytes: &[u8]) -> Vec<Self> {
        pod_vec(bytes)
    }
}

impl GgmlAct for BlockQ8_0 {
    fn from_ggml(bytes: &[u8]) -> Vec<Self> {
        pod_vec(bytes)
    }
}

/// ggml's `block_q8_1` is `{ f16 d, f16 s, i8 qs[32] }` (36 bytes); ours keeps `d` and `s` in
/// f32, so each widens exactly.
impl GgmlAct for BlockQ8_1 {
    fn from_ggml(bytes: &[u8]) -> Vec<Self> {
        assert_eq!(bytes.len() % 36, 0);
        bytes
            .chunks_exact(36)
            .map(|b| BlockQ8_1 {
                d: f16::from_le_bytes([b[0], b[1]]).to_f32(),
                s: f16::from_le_bytes([b[2], b[3]]).to_f32(),
                qs: std::array::from_fn(|j| b[4 + j] as i8),
            })
            .collect()
    }
}

/// Format `name`'s quantized rows followed by its random rows: `(rows, blocks)`.
fn all_blocks<F: Pod>(name: &str) -> (usize, Vec<F>) {
    let (n_q, mut blocks) = block_rows::<F>(&format!("{name}.quantized"));
    let (n_r, random) = block_rows::<F>(&format!("{name}.random"));
    blocks.extend(random);
    (n_q + n_r, blocks)
}

fn assert_same_bits(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    if let Some(i) = (0..got.len()).find(|&i| got[i].to_bits() != want[i].to_bits()) {
        panic!("{what}: value {i}: got {:e}, want {:e}", got[i], want[i]);
    }
}

/// Blocks of `values` numbers each, byte for byte.
fn assert_same_blocks<F: Pod>(got: &[F], want: &[F], values: usize, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    if let Some(b) =
        (0..got.len()).find(|&b| bytemuck::bytes_of(&got[b]) != bytemuck::bytes_of(&want[b]))
    {
        panic!(
            "{what}: block {b} (row {}, block {} of the row) differs:\n got {:?}\nwant {:?}",
            b * values / K,
            b % (K / values),
            bytemuck::bytes_of(&got[b]),
            bytemuck::bytes_of(&want[b]),
        );
    }
}

/// The formats on the registry, through the generic API: `dequantize`, `quantize_ref` and
/// `quantize` (the same bytes), and the scalar block dot.
mod registry {
    use super::*;

    pub(super) fn dequantize_matches_gguf_py<F: BlockFormat>() {
        let (rows, blocks) = all_blocks::<F>(&ggml_name(F::NAME));
        let want = f32s(&format!("{}.dequantized", ggml_name(F::NAME)));
        assert_eq!(want.len(), rows * K);
        let mut got = vec![f32::NAN; rows * K];
        dequantize::<F>(&blocks, &mut got).unwrap();
        assert_same_bits(&got, &want, &format!("{} dequantize", F::NAME));
    }

    pub(super) fn quantize_matches_ggml<F: BlockFormat>() {
        let x = f32s("weights");
        let (_, want) = block_rows::<F>(&format!("{}.quantized", ggml_name(F::NAME)));
        type Quantizer<F> = fn(&[f32], &mut [F]) -> Result<(), KernelError>;
        let quantizers: [(&str, Quantizer<F>); 2] = [
            ("quantize_ref", quantize_ref::<F>),
            ("quantize", quantize::<F>),
        ];
        for (name, quantizer) in quantizers {
            let mut got = vec![F::zeroed(); want.len()];
            quantizer(&x, &mut got).unwrap();
            assert_same_blocks(&got, &want, F::VALUES, &format!("{} {name}", F::NAME));
        }
    }

    /// ggml's generic `vec_dot` sums the block dots in order, from `+0`.
    pub(super) fn dot_block_matches_ggml_generic<F: WeightFormat>()
    where
        F::Act: GgmlAct,
    {
        let (rows, blocks) = all_blocks::<F>(&ggml_name(F::NAME));
        let act = tensor(&format!("{}.activations", F::NAME), Dtype::U8);
        let x = F::Act::from_ggml(&act.bytes);
        let want = f32s(&format!("{}.dot", F::NAME));
        assert_eq!(want.len(), rows * act.shape[0]);
        let per_row = K / F::VALUES;
        let mut got = Vec::with_capacity(want.len());
        for w in blocks.chunks_exact(per_row) {
            for xr in x.chunks_exact(per_row) {
                let dot = w
                    .iter()
                    .zip(xr)
                    .fold(0.0f32, |s, (wb, xb)| s + wb.dot_block(xb));
                got.push(dot);
            }
        }
        assert_same_bits(
            &got,
            &want,
            &format!("{} dot_block (weight row × activation row)", F::NAME),
        );
    }
}

mod q5_0 {
    use super::*;

    #[test]
    fn dequantize_matches_gguf_py() {
        registry::dequantize_matches_gguf_py::<BlockQ5_0>();
    }
    #[test]
    fn quantize_matches_ggml() {
        registry::quantize_matches_ggml::<BlockQ5_0>();
    }
    #[test]
    fn dot_block_matches_ggml_generic() {
        registry::dot_block_matches_ggml_generic::<BlockQ5_0>();
    }
}

mod q5_1 {
    use super::*;

    #[test]
    fn dequantize_matches_gguf_py() {
        registry::dequantize_matches_gguf_py::<BlockQ5_1>();
    }
    #[test]
    fn quantize_matches_ggml() {
        registry::quantize_matches_ggml::<BlockQ5_1>();
    }
    #[test]
    fn dot_block_matches_ggml_generic() {
        registry::dot_block_matches_ggml_generic::<BlockQ5_1>();
    }
}

mod iq4_nl {
    use super::*;

    #[test]
    fn dequantize_matches_gguf_py() {
        registry::dequantize_matches_gguf_py::<BlockIq4Nl>();
    }
    /// What `llama-quantize` writes (ggml's `quantize_iq4_nl`).
    #[test]
    fn quantize_matches_ggml() {
        registry::quantize_matches_ggml::<BlockIq4Nl>();
    }
    /// ggml's `quantize_row_iq4_nl_ref` (the fixture's all-zero blocks carry index 8 where
    /// ggml leaves its buffer's old bytes; see the fixture README).
    #[test]
    fn quantize_ref_matches_ggml() {
        let x = f32s("weights");
        let (_, want) = block_rows::<BlockIq4Nl>("iq4_nl.quantized_ref");
        let mut got = vec![BlockIq4Nl::zeroed(); want.len()];
        iq4_nl_quantize_row_ref(&x, &mut got).unwrap();
        assert_same_blocks(&got, &want, QK, "iq4_nl quantize_ref");
        let (_, chunk) = block_rows::<BlockIq4Nl>("iq4_nl.quantized");
        assert!(
            got != chunk,
            "the two quantizers should differ on this input"
        );
    }
    #[test]
    fn dot_block_matches_ggml_generic() {
        registry::dot_block_matches_ggml_generic::<BlockIq4Nl>();
    }
}

// ---------------------------------------------------------------------------
// The K-quants paired with Q8_K: the registry checks above, and the row `dot` on the scalar
// path (ggml's generic order, which for some keeps sums across superblocks), bad lengths
// through the generic API, and the integer views.

/// ggml's spelling of a registry name, as the fixture's tensors are named (`q5_k` → `q5_K`).
fn ggml_name(name: &str) -> String {
    match name.strip_suffix("_k") {
        Some(stem) => format!("{stem}_K"),
        None => name.to_owned(),
    }
}

/// The scalar path's dot of each weight row with each of ggml's activation rows, bit for bit
/// ggml's generic `vec_dot` (whose K-quant dots keep sums across superblocks).
fn registry_dot_matches_ggml_generic<B: WeightFormat<Act = BlockQ8K>>() {
    let (rows, blocks) = all_blocks::<B>(&ggml_name(B::NAME));
    let name = ggml_name(B::NAME);
    let act = tensor(&format!("{name}.activations"), Dtype::U8);
    let act_rows = act.shape[0];
    let x = BlockQ8K::from_ggml(&act.bytes);
    let want = f32s(&format!("{name}.dot"));
    assert_eq!(want.len(), rows * act_rows);
    let per_row = K / B::VALUES;
    let got = with_path(SimdPath::Scalar, || {
        let mut got = Vec::with_capacity(want.len());
        for w in blocks.chunks_exact(per_row) {
            for xr in x.chunks_exact(per_row) {
                got.push(dot::<B>(w, xr).unwrap());
            }
        }
        got
    })
    .unwrap();
    assert_same_bits(
        &got,
        &want,
        &format!("{} scalar dot (weight row × activation row)", B::NAME),
    );
}

/// Wrong lengths are named errors of the generic API, never panics.
fn registry_bad_lengths_are_errors<B: WeightFormat>() {
    let n = B::VALUES;
    let blocks = vec![B::default(); 2];
    let mut out = vec![0.0f32; 2 * n];
    let err = dequantize::<B>(&blocks, &mut out[..2 * n - 1]).unwrap_err();
    assert!(
        matches!(err, KernelError::InvalidDimension { dim: "out", .. }),
        "{err}"
    );
    let err = dequantize::<B>(&blocks[..1], &mut out).unwrap_err();
    assert!(
        matches!(
            err,
            KernelError::LengthMismatch {
                operand: "blocks",
                ..
            }
        ),
        "{err}"
    );
    let act = vec![B::Act::default(); 1];
    let err = dot::<B>(&blocks, &act).unwrap_err();
    assert!(
        matches!(err, KernelError::LengthMismatch { operand: "x_q", .. }),
        "{err}"
    );
    let x = vec![0.5f32; 2 * n];
    let mut q = vec![B::default(); 2];
    let err = quantize_ref::<B>(&x[..n + 1], &mut q).unwrap_err();
    assert!(
        matches!(err, KernelError::InvalidDimension { dim: "x", .. }),
        "{err}"
    );
    let err = quantize::<B>(&x, &mut q[..1]).unwrap_err();
    assert!(
        matches!(err, KernelError::LengthMismatch { operand: "out", .. }),
        "{err}"
    );
}

/// `(d·scales[s])·q − dmin·mins[s]` from a superblock's integer view equals its
/// dequantization, bit for bit (subtracting `+0` keeps every bit, `−0` included).
fn registry_sub_blocks_match_dequantize<B: BlockFormat, const S: usize>(
    view: impl Fn(&B) -> SubBlocks<S>,
) {
    let (_, blocks) = all_blocks::<B>(&ggml_name(B::NAME));
    for (b, block) in blocks.iter().enumerate() {
        let v = view(block);
        let mut want = [f32::NAN; QK_K];
        block.dequantize_block(&mut want);
        let got: Vec<f32> = (0..QK_K)
            .map(|j| {
                let s = j / (QK_K / S);
                v.d * f32::from(v.scales[s]) * f32::from(v.q[j]) - v.dmin * f32::from(v.mins[s])
            })
            .collect();
        assert_same_bits(&got, &want, &format!("{} block {b} sub_blocks", B::NAME));
    }
}

/// The tests of one registry format: with ggml's quantizer, or with the extra items given.
macro_rules! registry_format_tests {
    ($name:ident, $block:ty) => {
        registry_format_tests!($name, $block, {
            #[test]
            fn quantize_matches_ggml() {
                super::registry::quantize_matches_ggml::<$block>();
            }
        });
    };
    ($name:ident, $block:ty, { $($extra:tt)* }) => {
        mod $name {
            use super::*;

            #[test]
            fn dequantize_matches_gguf_py() {
                super::registry::dequantize_matches_gguf_py::<$block>();
            }
            #[test]
            fn dot_matches_ggml_generic() {
                super::registry_dot_matches_ggml_generic::<$block>();
            }
            #[test]
            fn bad_lengths_are_errors() {
                super::registry_bad_lengths_are_errors::<$block>();
            }
            #[test]
            fn sub_blocks_match_dequantize() {
                super::registry_sub_blocks_match_dequantize(<$block>::sub_blocks);
            }

            $($extra)*
        }
    };
}

registry_format_tests!(q5_k, BlockQ5K);
registry_format_tests!(q3_k, BlockQ3K);
registry_format_tests!(q2_k, BlockQ2K);
registry_format_tests!(iq4_xs, BlockIq4Xs);
registry_format_tests!(iq3_xxs, BlockIq3Xxs);
registry_format_tests!(iq2_s, BlockIq2S);
registry_format_tests!(iq3_s, BlockIq3S, {
    /// Bit-exact with ggml once ggml's slots are moved back where it skipped an all-zero
    /// sub-block (see the `iq3_s` module docs); the fixture has such a superblock.
    #[test]
    fn quantize_matches_ggml_up_to_its_zero_sub_block_shift() {
        let x = f32s("weights");
        let (_, ggml) = block_rows::<BlockIq3S>("iq3_s.quantized");
        let want: Vec<BlockIq3S> = ggml
            .iter()
            .zip(x.chunks_exact(QK_K))
            .map(|(b, xs)| unshift_zero_sub_blocks(b, xs))
            .collect();
        assert!(want != ggml, "the fixture should exercise ggml's shift");
        let mut got = vec![BlockIq3S::default(); want.len()];
        quantize_ref::<BlockIq3S>(&x, &mut got).unwrap();
        assert_same_blocks(&got, &want, QK_K, "iq3_s quantize_ref");
        quantize::<BlockIq3S>(&x, &mut got).unwrap();
        assert_same_blocks(&got, &want, QK_K, "iq3_s quantize");
    }
    /// ggml's block with each sub-block's `qs`/`signs` at its own place: ggml writes them at a
    /// cursor that an all-zero sub-block does not advance.
    fn unshift_zero_sub_blocks(b: &BlockIq3S, x: &[f32]) -> BlockIq3S {
        let mut out = *b;
        let mut slot = 0;
        for ib in 0..8 {
            let (qs, signs) = (&mut out.qs[8 * ib..][..8], &mut out.signs[4 * ib..][..4]);
            if x[32 * ib..][..32].iter().all(|&v| v == 0.0) {
                qs.fill(0);
                signs.fill(0);
            } else {
                qs.copy_from_slice(&b.qs[8 * slot..][..8]);
                signs.copy_from_slice(&b.signs[4 * slot..][..4]);
                slot += 1;
            }
        }
        out
    }
});
/// Largest IQ2_XS round-trip error of one value, in units of its block's `amax`: the grid
/// has no 0 and only 512 of the 3⁸ points, so this is coarse. Measured 0.49 (`cargo test -p
/// smallmind-kernels --test formats iq2_xs -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07).
const IQ2_XS_MAX_ERR: f64 = 0.75;
/// Largest relative RMS round-trip error of one IQ2_XS block (`‖x̂ − x‖/max(‖x‖, 1)`).
/// Measured 0.60, on the block of N(0, 1) values with outliers up to 50 (same command).
const IQ2_XS_REL_RMS: f64 = 0.8;

/// A format ggml quantizes only with an importance matrix, by our simple quantizer (the
/// `iq2_xs` module docs): the dispatched quantizer writes the same bytes, the round trip is a
/// coarse 2-bit approximation (per superblock, no value moves by more than `max_err·amax`
/// and the relative RMS error stays below `rel_rms`), and zeros stay zeros.
fn simple_quantizer_makes_valid_blocks<B: BlockFormat + PartialEq + std::fmt::Debug>(
    max_err: f64,
    rel_rms: f64,
) {
    let x = f32s("weights");
    let mut got = vec![B::default(); x.len() / QK_K];
    quantize_ref::<B>(&x, &mut got).unwrap();
    let mut fast = vec![B::default(); got.len()];
    quantize::<B>(&x, &mut fast).unwrap();
    assert_same_blocks(&fast, &got, QK_K, &format!("{} quantize", B::NAME));
    let mut back = vec![f32::NAN; x.len()];
    dequantize::<B>(&got, &mut back).unwrap();
    for (b, (xs, bs)) in x
        .chunks_exact(QK_K)
        .zip(back.chunks_exact(QK_K))
        .enumerate()
    {
        let amax = xs.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        max_scaled_diff(bs, xs, &vec![amax; QK_K])
            .assert_within(max_err, &format!("{} block {b}, in amax", B::NAME));
        let sq = |v: &mut dyn Iterator<Item = f32>| v.map(|e| f64::from(e).powi(2)).sum::<f64>();
        let err2 = sq(&mut xs.iter().zip(bs).map(|(a, b)| a - b));
        // An all-zero block must come back exactly (its "relative" error is the absolute).
        let rms = (err2 / sq(&mut xs.iter().copied()).max(1.0)).sqrt();
        Worst::scalar(rms).assert_within(rel_rms, &format!("{} block {b}, rms", B::NAME));
    }
    let zeros = vec![0.0f32; QK_K];
    quantize_ref::<B>(&zeros, &mut got[..1]).unwrap();
    assert_eq!(got[0], B::default());
}

registry_format_tests!(iq2_xs, BlockIq2Xs, {
    /// ggml has no IQ2_XS quantizer without an importance matrix; ours makes valid blocks
    /// (the grid has 512 of the 3⁸ points).
    #[test]
    fn simple_quantizer_makes_valid_blocks() {
        super::simple_quantizer_makes_valid_blocks::<BlockIq2Xs>(IQ2_XS_MAX_ERR, IQ2_XS_REL_RMS);
    }
});

/// Largest IQ2_XXS round-trip error of one value, in units of its block's `amax` (256 of the
/// 3⁸ points, one scale per 32). Measured 0.57 (`cargo test -p smallmind-kernels --test
/// formats iq2_xxs -- --nocapture`, AMD EPYC Zen 5, 2026-12-07).
const IQ2_XXS_MAX_ERR: f64 = 0.75;
/// Largest relative RMS round-trip error of one IQ2_XXS block. Measured 0.62, on the block of
/// N(0, 1) values with outliers up to 50 (same command).
const IQ2_XXS_REL_RMS: f64 = 0.8;

registry_format_tests!(iq2_xxs, BlockIq2Xxs, {
    /// ggml has no IQ2_XXS quantizer without an importance matrix; ours makes valid blocks.
    #[test]
    fn simple_quantizer_makes_valid_blocks() {
        super::simple_quantizer_makes_valid_blocks::<BlockIq2Xxs>(IQ2_XXS_MAX_ERR, IQ2_XXS_REL_RMS);
    }
});
