//! [`TensorPool`]: a thread-safe cache of 64-byte aligned buffers, rented by
//! size class and returned automatically when the [`PooledBuffer`] guard drops.
//!
//! # Size classes
//!
//! A request of `n` bytes is rounded up to `b = max(1, ⌈n / 64⌉)` blocks of 64
//! bytes, then up to the next *class*: `b` itself when `b ≤ 4`, otherwise the
//! next value of the form `m · 2^k` with `m ∈ {4, 5, 6, 7}`. That gives four
//! classes per power of two (…, 256, 320, 384, 448, 512, 640, … blocks), so a
//! buffer is never more than 25% larger than the request (about 12% on
//! average), while a buffer returned by one request serves every later request
//! of the same class. A rented buffer's [`PooledBuffer::len`] is the requested
//! size; [`PooledBuffer::capacity`] is the class size.
//!
//! # Retention policy
//!
//! The pool keeps at most `max_retained_bytes` (counted by capacity) of idle
//! buffers. A buffer coming back when keeping it would exceed that bound is
//! freed at once; buffers already cached are never evicted to make room (the
//! policy is O(1) and never frees memory a steady-state workload is about to
//! reuse). [`TensorPool::trim`] frees every cached buffer.
//!
//! # Contents
//!
//! [`TensorPool::rent`] gives a buffer whose contents are unspecified: zero if
//! freshly allocated, the previous user's data if reused. [`TensorPool::rent_zeroed`]
//! zeroes reused buffers (fresh ones already are).
//!
//! # Concurrency and statistics
//!
//! Each size class has its own `Mutex`, held only to push or pop one buffer;
//! counters are atomics. Each counter in a [`PoolStats`] snapshot is exact, but
//! a snapshot taken while other threads rent or return is not atomic across
//! counters. Once all threads are quiet: `rents == hits + misses`,
//! `returns + outstanding buffers == rents`, and `bytes_outstanding` is the
//! capacity of the buffers still rented.

use crate::dtype::Element;
use crate::error::{Result, TensorError};
use crate::storage::{ALIGN, AlignedBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Default bound on idle bytes kept by [`TensorPool::default`]: 256 MiB.
pub const DEFAULT_MAX_RETAINED_BYTES: usize = 256 << 20;

/// Number of size classes: 3 small ones (1–3 blocks), then 4 per power of two
/// from 4 blocks up to the largest block count that fits in `isize::MAX` bytes.
const NUM_CLASSES: usize = 3 + 4 * (usize::BITS as usize - 2);

/// The class index and its size in blocks for a request of `bytes`, or `None`
/// if the class size exceeds `isize::MAX` bytes.
fn class_of(bytes: usize) -> Option<(usize, usize)> {
    let blocks = bytes.div_ceil(ALIGN).max(1);
    let (index, class_blocks) = if blocks < 4 {
        (blocks - 1, blocks)
    } else {
        // blocks ∈ [2^e, 2^(e+1)), e ≥ 2; classes step by 2^(e-2).
        let mut e = blocks.ilog2() as usize;
        let mut m = blocks.div_ceil(1 << (e - 2));
        if m == 8 {
            e += 1;
            m = 4;
        }
        let class_blocks = m.checked_shl((e - 2) as u32)?;
        (3 + 4 * (e - 2) + (m - 4), class_blocks)
    };
    let class_bytes = class_blocks.checked_mul(ALIGN)?;
    (class_bytes <= isize::MAX as usize && index < NUM_CLASSES).then_some((index, class_blocks))
}

/// The capacity, in bytes, of the buffer a request of `bytes` receives (its
/// size class), or `None` if that exceeds `isize::MAX`.
pub fn size_class_bytes(bytes: usize) -> Option<usize> {
    class_of(bytes).map(|(_, blocks)| blocks * ALIGN)
}

/// A snapshot of a pool's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Successful rents.
    pub rents: u64,
    /// Buffers given back (guards dropped), retained or not.
    pub returns: u64,
    /// Rents served from the cache.
    pub hits: u64,
    /// Rents that allocated a new buffer.
    pub misses: u64,
    /// Returns freed instead of cached, because of the retention bound.
    pub released: u64,
    /// Capacity of the buffers currently rented, in bytes.
    pub bytes_outstanding: usize,
    /// Highest `bytes_outstanding` ever reached.
    pub high_water_bytes: usize,
    /// Capacity of the idle buffers cached, in bytes.
    pub bytes_retained: usize,
}

/// State shared by a pool's handles and its rented buffers.
struct Shared {
    /// Idle buffers, one list per size class.
    classes: Box<[Mutex<Vec<AlignedBuf>>]>,
    max_retained_bytes: usize,
    rents: AtomicU64,
    returns: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    released: AtomicU64,
    bytes_outstanding: AtomicUsize,
    high_water_bytes: AtomicUsize,
    bytes_retained: AtomicUsize,
}

impl Shared {
    fn class(&self, index: usize) -> std::sync::MutexGuard<'_, Vec<AlignedBuf>> {
        // A poisoned list is still a valid list of buffers.
        self.classes[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes back a buffer of class `index`: caches it if the bound allows,
    /// frees it otherwise.
    fn give_back(&self, index: usize, buf: AlignedBuf) {
        let capacity = buf.capacity();
        self.bytes_outstanding
            .fetch_sub(capacity, Ordering::Relaxed);
        self.returns.fetch_add(1, Ordering::Relaxed);
        let reserved = self
            .bytes_retained
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| {
                r.checked_add(capacity)
                    .filter(|&n| n <= self.max_retained_bytes)
            })
            .is_ok();
        if reserved {
            self.class(index).push(buf);
        } else {
            self.released.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A thread-safe pool of 64-byte aligned buffers. Cloning gives another handle
/// to the same pool. See the [module docs](self) for size classes, retention
/// and statistics.
#[derive(Clone)]
pub struct TensorPool {
    shared: Arc<Shared>,
}

impl TensorPool {
    /// A pool that keeps at most `max_retained_bytes` of idle buffers.
    pub fn new(max_retained_bytes: usize) -> TensorPool {
        let classes = (0..NUM_CLASSES).map(|_| Mutex::new(Vec::new())).collect();
        TensorPool {
            shared: Arc::new(Shared {
                classes,
                max_retained_bytes,
                rents: AtomicU64::new(0),
                returns: AtomicU64::new(0),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                released: AtomicU64::new(0),
                bytes_outstanding: AtomicUsize::new(0),
                high_water_bytes: AtomicUsize::new(0),
                bytes_retained: AtomicUsize::new(0),
            }),
        }
    }

    /// The bound on idle bytes this pool keeps.
    pub fn max_retained_bytes(&self) -> usize {
        self.shared.max_retained_bytes
    }

    /// Rents a buffer of `bytes` bytes; contents unspecified (see the module
    /// docs). Fails with [`TensorError::AllocationFailed`] if the size class
    /// exceeds `isize::MAX` or the allocator refuses.
    pub fn rent(&self, bytes: usize) -> Result<PooledBuffer> {
        self.rent_for("TensorPool::rent", bytes, false)
    }

    /// Rents a buffer of `bytes` bytes, all zero.
    pub fn rent_zeroed(&self, bytes: usize) -> Result<PooledBuffer> {
        self.rent_for("TensorPool::rent_zeroed", bytes, true)
    }

    pub(crate) fn rent_for(
        &self,
        op: &'static str,
        bytes: usize,
        zero: bool,
    ) -> Result<PooledBuffer> {
        let shared = &self.shared;
        let (index, blocks) = class_of(bytes).ok_or(TensorError::AllocationFailed { op, bytes })?;
        let cached = shared.class(index).pop();
        let buf = match cached {
            Some(mut buf) => {
                shared
                    .bytes_retained
                    .fetch_sub(buf.capacity(), Ordering::Relaxed);
                shared.hits.fetch_add(1, Ordering::Relaxed);
                buf.set_len(bytes);
                if zero {
                    buf.fill_zero();
                }
                buf
            }
            None => {
                let buf = AlignedBuf::zeroed_blocks(op, blocks, bytes)?;
                shared.misses.fetch_add(1, Ordering::Relaxed);
                buf
            }
        };
        shared.rents.fetch_add(1, Ordering::Relaxed);
        let capacity = buf.capacity();
        let before = shared
            .bytes_outstanding
            .fetch_add(capacity, Ordering::Relaxed);
        shared
            .high_water_bytes
            .fetch_max(before + capacity, Ordering::Relaxed);
        Ok(PooledBuffer {
            buf,
            class: index,
            shared: Arc::clone(shared),
        })
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> PoolStats {
        let s = &self.shared;
        PoolStats {
            rents: s.rents.load(Ordering::Relaxed),
            returns: s.returns.load(Ordering::Relaxed),
            hits: s.hits.load(Ordering::Relaxed),
            misses: s.misses.load(Ordering::Relaxed),
            released: s.released.load(Ordering::Relaxed),
            bytes_outstanding: s.bytes_outstanding.load(Ordering::Relaxed),
            high_water_bytes: s.high_water_bytes.load(Ordering::Relaxed),
            bytes_retained: s.bytes_retained.load(Ordering::Relaxed),
        }
    }

    /// Number of idle buffers cached, over all classes.
    pub fn retained_buffers(&self) -> usize {
        (0..NUM_CLASSES).map(|i| self.shared.class(i).len()).sum()
    }

    /// Frees every cached buffer. Rented buffers are unaffected.
    pub fn trim(&self) {
        for index in 0..NUM_CLASSES {
            let drained = std::mem::take(&mut *self.shared.class(index));
            let bytes: usize = drained.iter().map(AlignedBuf::capacity).sum();
            self.shared
                .bytes_retained
                .fetch_sub(bytes, Ordering::Relaxed);
        }
    }
}

impl Default for TensorPool {
    /// A pool bounded by [`DEFAULT_MAX_RETAINED_BYTES`].
    fn default() -> TensorPool {
        TensorPool::new(DEFAULT_MAX_RETAINED_BYTES)
    }
}

impl std::fmt::Debug for TensorPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TensorPool")
            .field("max_retained_bytes", &self.max_retained_bytes())
            .field("stats", &self.stats())
            .finish()
    }
}

/// A buffer rented from a [`TensorPool`]: 64-byte aligned, `len()` bytes.
/// Goes back to its pool when dropped (RAII); the pool may have been dropped
/// meanwhile, the buffer still returns to the shared state and is freed with it.
pub struct PooledBuffer {
    buf: AlignedBuf,
    class: usize,
    shared: Arc<Shared>,
}

impl PooledBuffer {
    /// Length in bytes, as requested.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// `true` if zero bytes were requested.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Bytes allocated: the size class.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The `len()` bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.as_bytes()
    }

    /// The `len()` bytes, mutably.
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        self.buf.as_bytes_mut()
    }

    /// The bytes as elements of `T`; fails if `len()` is not a multiple of
    /// the element size.
    pub fn as_slice<T: Element>(&self) -> Result<&[T]> {
        self.buf.as_slice()
    }

    /// The bytes as mutable elements of `T`; fails if `len()` is not a
    /// multiple of the element size.
    pub fn as_mut_slice<T: Element>(&mut self) -> Result<&mut [T]> {
        self.buf.as_mut_slice()
    }
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        self.shared.give_back(self.class, buf);
    }
}

impl std::fmt::Debug for PooledBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledBuffer")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_round_up_by_less_than_a_quarter() {
        let mut last_index = None;
        for blocks in 1..5000usize {
            let (index, class_blocks) = class_of(blocks * ALIGN).unwrap();
            assert!(class_blocks >= blocks);
            assert!(
                4 * (class_blocks - blocks) < class_blocks.max(4),
                "{blocks} -> {class_blocks}"
            );
            // Indices are monotone and a class size maps back to itself.
            assert!(last_index.is_none_or(|l| index == l || index == l + 1));
            assert_eq!(class_of(class_blocks * ALIGN), Some((index, class_blocks)));
            last_index = Some(index);
        }
    }

    #[test]
    fn known_classes() {
        assert_eq!(size_class_bytes(0), Some(64));
        assert_eq!(size_class_bytes(1), Some(64));
        assert_eq!(size_class_bytes(65), Some(128));
        assert_eq!(size_class_bytes(4 * 64 + 1), Some(5 * 64));
        assert_eq!(size_class_bytes(8 * 64 + 1), Some(10 * 64));
        assert_eq!(size_class_bytes(1000 * 64), Some(1024 * 64));
        assert_eq!(size_class_bytes(usize::MAX), None);
        assert!(size_class_bytes(isize::MAX as usize / 2).is_some());
    }
}
