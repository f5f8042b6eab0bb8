//! The KV cache: every layer's keys and values for the positions a session
//! has seen, preallocated once to a fixed capacity and written in place.
//!
//! Layout per layer: keys and values each `(Hkv, capacity, D)`, so one
//! key/value head's history is a contiguous `(n, D)` matrix for the attention
//! GEMMs. Filling past the capacity is an error
//! ([`ModelError::ContextOverflow`]). Local (sliding-window) layers keep every
//! position too: their attention reads only the last `window` ones.

use smallmind_ops::{AttentionShape, KvCacheLayer, KvCacheRef};

use crate::error::{ModelError, Result};

/// Keys and values of every layer, `(layers, Hkv, capacity, D)` each.
#[derive(Clone, Debug)]
pub struct KvCache {
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
    capacity: usize,
    len: usize,
}

impl KvCache {
    /// A zeroed cache of `capacity` positions for `layers` layers of `shape`.
    pub fn new(layers: usize, shape: &AttentionShape, capacity: usize) -> KvCache {
        let per_layer = shape.cache_len(capacity);
        KvCache {
            keys: (0..layers).map(|_| vec![0.0; per_layer]).collect(),
            values: (0..layers).map(|_| vec![0.0; per_layer]).collect(),
            capacity,
            len: 0,
        }
    }

    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no position is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Positions the cache can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Heap bytes the cache owns.
    pub fn bytes(&self) -> usize {
        self.keys
            .iter()
            .chain(&self.values)
            .map(|v| v.len() * 4)
            .sum()
    }

    /// Checks that `extra` more positions fit.
    pub fn check_room(&self, extra: usize) -> Result<()> {
        let requested = self.len.saturating_add(extra);
        if requested > self.capacity {
            return Err(ModelError::ContextOverflow {
                requested,
                capacity: self.capacity,
            });
        }
        Ok(())
    }

    /// Layer `i`, writable.
    pub fn layer_mut(&mut self, i: usize) -> KvCacheLayer<'_> {
        KvCacheLayer {
            keys: &mut self.keys[i],
            values: &mut self.values[i],
            capacity: self.capacity,
        }
    }

    /// Layer `i`, read-only.
    pub fn layer(&self, i: usize) -> KvCacheRef<'_> {
        KvCacheRef {
            keys: &self.keys[i],
            values: &self.values[i],
            capacity: self.capacity,
        }
    }

    /// Marks `n` more positions as filled (after every layer wrote them).
    pub(crate) fn advance(&mut self, n: usize) {
        self.len += n;
    }

    /// Forgets every position from `len` on (stale data is overwritten later).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}
