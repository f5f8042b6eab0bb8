//! Byte-level BPE merging of one pre-tokenized piece (Sennrich et al. 2016, as applied by
//! GPT-2): start from one symbol per byte, then repeatedly merge the adjacent pair of lowest
//! merge rank, leftmost first among equal ranks, until no adjacent pair has a merge.
//!
//! Symbols form a doubly linked list inside a `Vec`; candidate pairs sit in a min-heap keyed by
//! `(rank, left position)`. A popped entry is stale if its left symbol died or its pair no
//! longer has that rank, and is then skipped. Each merge costs `O(log n)`, so a piece of `n`
//! bytes takes `O(n log n)`: no rescans of long words. The buffers live in [`BpeScratch`] and
//! are reused across the pieces of one `encode` call.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

/// No neighbour.
const NONE: u32 = u32::MAX;

/// What merging one pair gives.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Merge {
    /// Priority: lower merges first.
    pub(crate) rank: u32,
    /// The merged token.
    pub(crate) id: u32,
}

/// A hasher for `u64` pair keys: one multiply, ample for token-id pairs.
#[derive(Default)]
pub(crate) struct PairHasher(u64);

impl Hasher for PairHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0 ^ x)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29);
    }
}

/// Merge lookup: `(left id, right id)` → [`Merge`].
#[derive(Clone, Debug, Default)]
pub(crate) struct MergeTable {
    map: HashMap<u64, Merge, BuildHasherDefault<PairHasher>>,
}

fn pair_key(left: u32, right: u32) -> u64 {
    (u64::from(left) << 32) | u64::from(right)
}

impl MergeTable {
    /// Adds a merge; if the pair already has one, the earlier (lower) rank is kept.
    pub(crate) fn insert(&mut self, left: u32, right: u32, merge: Merge) {
        self.map.entry(pair_key(left, right)).or_insert(merge);
    }

    /// The merge of `(left, right)`, if any.
    pub(crate) fn get(&self, left: u32, right: u32) -> Option<Merge> {
        self.map.get(&pair_key(left, right)).copied()
    }

    /// Number of distinct merges.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

/// One symbol of the linked list.
#[derive(Clone, Copy)]
struct Symbol {
    id: u32,
    prev: u32,
    next: u32,
    alive: bool,
}

/// Reusable buffers for [`merge_piece`].
#[derive(Default)]
pub(crate) struct BpeScratch {
    symbols: Vec<Symbol>,
    heap: BinaryHeap<Reverse<(u32, u32)>>,
}

/// Merges the symbols `initial` (one token id per byte) and appends the resulting ids to `out`.
pub(crate) fn merge_piece(
    merges: &MergeTable,
    initial: impl Iterator<Item = u32>,
    scratch: &mut BpeScratch,
    out: &mut Vec<u32>,
) {
    fill_symbols(initial, &mut scratch.symbols);
    let n = scratch.symbols.len();
    if n <= 1 {
        out.extend(scratch.symbols.iter().map(|s| s.id));
        return;
    }
    scratch.heap.clear();
    for left in 0..n - 1 {
        push_pair(merges, &scratch.symbols, &mut scratch.heap, left as u32);
    }
    while let Some(Reverse((rank, left))) = scratch.heap.pop() {
        apply_if_current(merges, scratch, rank, left);
    }
    let mut at = 0u32;
    while at != NONE {
        let symbol = scratch.symbols[at as usize];
        out.push(symbol.id);
        at = symbol.next;
    }
}

fn fill_symbols(initial: impl Iterator<Item = u32>, symbols: &mut Vec<Symbol>) {
    symbols.clear();
    symbols.extend(initial.enumerate().map(|(i, id)| Symbol {
        id,
        prev: if i == 0 { NONE } else { i as u32 - 1 },
        next: i as u32 + 1,
        alive: true,
    }));
    if let Some(last) = symbols.last_mut() {
        last.next = NONE;
    }
}

/// Queues the pair starting at `left` if it has a merge.
fn push_pair(
    merges: &MergeTable,
    symbols: &[Symbol],
    heap: &mut BinaryHeap<Reverse<(u32, u32)>>,
    left: u32,
) {
    let l = symbols[left as usize];
    if l.next == NONE {
        return;
    }
    if let Some(merge) = merges.get(l.id, symbols[l.next as usize].id) {
        heap.push(Reverse((merge.rank, left)));
    }
}

/// Merges the pair at `left` unless the heap entry `(rank, left)` is stale.
fn apply_if_current(merges: &MergeTable, scratch: &mut BpeScratch, rank: u32, left: u32) {
    let symbols = &mut scratch.symbols;
    let l = symbols[left as usize];
    if !l.alive || l.next == NONE {
        return;
    }
    let right = l.next;
    let r = symbols[right as usize];
    let Some(merge) = merges.get(l.id, r.id).filter(|m| m.rank == rank) else {
        return;
    };
    symbols[left as usize].id = merge.id;
    symbols[left as usize].next = r.next;
    symbols[right as usize].alive = false;
    if r.next != NONE {
        symbols[r.next as usize].prev = left;
    }
    if l.prev != NONE {
        push_pair(merges, symbols, &mut scratch.heap, l.prev);
    }
    push_pair(merges, symbols, &mut scratch.heap, left);
}
