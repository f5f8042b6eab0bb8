//! Block sizes and thresholds of the GEMM, with their derivation.
//!
//! Target machine (the benchmark box): AMD EPYC Zen, per core 48 KiB L1d
//! (12-way), 1 MiB L2 (16-way), 32 MiB L3 shared by the 2 cores
//! (`/sys/devices/system/cpu/cpu0/cache/index*`). f32 = 4 bytes.
//!
//! Register tile `MR × NR` (rows of A broadcast × columns of B as vectors):
//! - V4 (AVX-512, 32 zmm): `MR_V4 × NV_V4` = 8 × 2 vectors of 16 lanes, i.e.
//!   an 8 × 32 tile: 16 accumulators + 2 B vectors + 1 broadcast = 19 zmm; 16
//!   independent FMA chains cover 2 FMA pipes × 4-cycle latency twice over, and
//!   a step issues 8 broadcasts + 2 loads per 16 FMAs. Measured against the
//!   alternatives (`GEMM_QUICK=1`, best of N, 1 thread, GFLOP/s at
//!   64³ / 128³ / 512³ / 128×1536×576): 8×2: 263/213/260/243, 12×2:
//!   214/205/254/234, 8×3: 170/197/249/245, 6×4: 248/209/246/228. Wider tiles
//!   lose on the ragged edges of small and prefill shapes (128 = 16·8 rows,
//!   every n here a multiple of 32).
//! - V3 (AVX2, 16 ymm): 6 × 2·8 = 12 accumulators + 2 B + 1 broadcast = 15.
//! - Scalar / other: 4 × 4.
//!
//! Cache blocks (BLIS analytic model, Low et al., "Analytical modeling is enough
//! for high-performance BLIS", TOMS 2016):
//! - `KC`: one B micro-panel `(KC, NR)` stays in L1 while the A micro-panels of
//!   the L2 block stream past it, and one A micro-panel `(MR, KC)` + the B
//!   micro-panel must fit L1 with room for C and prefetch: with NR = 32 floats,
//!   `KC·NR·4 = 256·128 B = 32 KiB` ≤ 48 KiB L1 (2/3, leaving ~16 KiB for the
//!   8 KiB A micro-panel and C). Larger KC also amortises the C tile
//!   load/store (once per KC rank-1 updates).
//! - `MC`: the packed A block `(MC, KC)` should take about half of L2 so the B
//!   micro-panel and C lines do not evict it: `MC·KC·4 ≤ 512 KiB` gives
//!   `MC ≤ 512`; we keep a multiple of every MR.
//! - `NC`: the packed B block `(KC, NC)` lives in L3; each core owns its own
//!   block when two threads run, so `2·KC·NC·4 ≤ ~1/2 of 32 MiB` gives
//!   `NC ≤ 8192`. A smaller NC only costs re-packing A (`m·k` per NC columns),
//!   which is negligible, while it bounds the per-thread buffer to
//!   `KC·NC·4 = 4 MiB`.

/// Depth of a packed block (rows of the B block, columns of the A block).
pub const KC: usize = 256;
/// Rows of op(A) packed at once (rounded down to a multiple of MR per path).
pub const MC: usize = 480;
/// Columns of op(B) packed at once (rounded down to a multiple of NR per path).
pub const NC: usize = 4096;

/// Largest depth packed at once by the small-`m` loop order (windows with
/// `m ≤ MC` rows, see `blocking::small_m_nest`); `k` up to this is done in
/// one block there, so each `C` tile is stored once.
///
/// Derivation: the packed A block `(m, kc)` must stay in L2 next to the B
/// chunk: `128·768·4 = 384 KiB` for the prefill `m = 128` (a full `MC = 480`
/// block at 768 is 1.4 MiB and spills to L3, which the 256³ / 480-row cases
/// tolerate: they only reach this order with `k ≤ 768`). The A micro-panel
/// `(MR, kc)` = 24 KiB at `MR = 8` stays in L1 while B panels stream from
/// L2. Measured (`GEMM_QUICK=49152`, 1 thread, V4, GFLOP/s B / Bᵀ at
/// 128×576×49152, chunk 256 columns): limit 256 (k split in 3 blocks)
/// 157 / 154, limit 768 (one block) 191 / 207; the general nest before this
/// order existed: 170 / 167.
pub const KC_SMALL_M_MAX: usize = 768;
/// Columns of op(B) packed per chunk by the small-`m` loop order: the chunk
/// `(kc, NC_SMALL_M)` is packed and consumed while it is in L2 (576 KiB at
/// `kc = 576`). Measured as above (limit 768), GFLOP/s B / Bᵀ: 32 columns
/// 145 / 202, 128: 179 / 200, 256: 191 / 207, 512: 193 / 207. Narrow chunks
/// hurt plain B, whose rows are then read in short strided pieces.
pub const NC_SMALL_M: usize = 256;

/// Largest MR of any path (sizes the per-thread A buffer).
pub const MAX_MR: usize = 16;
/// Largest NR of any path (sizes the per-thread B buffer).
pub const MAX_NR: usize = 64;

/// Micro-tile rows on the AVX-512 path.
pub const MR_V4: usize = 8;
/// Micro-tile vectors (of 16 lanes) per row on the AVX-512 path.
pub const NV_V4: usize = 2;

/// Products with fewer flops than this run on one thread.
///
/// Measured (`GEMM_THRESH=1 cargo bench -p smallmind-kernels --bench gemm_tune`,
/// best of N, square sizes, 2-thread vs 1-thread pool, threshold forced to 0,
/// idle machine): speedup 0.88 at 48³, 0.95 at 64³, 1.39 at 96³, 1.70 at
/// 128³, 1.78 at 256³. The crossover lies between 64³ and 96³; the threshold
/// is the first measured winning size, 2·96³ flops. (With the other core
/// busy, 2 threads gave ≤ 1.01× up to 256³: a shared core hides any gain.)
pub const PARALLEL_MIN_FLOPS: f64 = 2.0 * 96.0 * 96.0 * 96.0;

/// Products with `m·n·k` at most this skip packing (the direct path).
///
/// Measured (`GEMM_QUICK=1`, best of N, 1 thread, V4): at 128³ the packed
/// path gave 213 GFLOP/s and the direct path 265 (at 64³: 255 direct); with
/// the limit at 192³, 128³ stayed at 270 and 256³ (packed) at 235. Beyond a
/// few hundred KiB of B the unpacked, `ldb`-strided B rows start to conflict
/// in L1, so the limit stays at 128³.
pub const DIRECT_MAX_MNK: usize = 128 * 128 * 128;
