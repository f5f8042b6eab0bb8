//! How kernels share their work among threads: the split planner and the
//! loops that run a split.
//!
//! A kernel describes its work once — `len` items (rows, columns, elements)
//! in units of `align` (a tile height, a cache line), `work` bytes or FLOPs in
//! all — and [`plan`] turns it into a [`Split`]: how many parts, of how many
//! items each, and how many workers take part. Workers join only when each
//! gets at least the kernel's `min_work_per_worker` (the measured crossover
//! below which a second thread costs more than it saves), so a small op runs
//! on one worker and more threads are never slower.
//!
//! The parts run on the calling thread's current [`Team`](crate::team::Team)
//! ([`Team::install`](crate::team::Team::install)); with none installed (tests,
//! training) on the current rayon pool. Each worker owns a contiguous share
//! of the parts and takes the others' leftovers when done with its own, so a
//! worker whose core is busy with something else finishes fewer, and one that
//! has not arrived when the caller has finished skips the region
//! ([`Team::run_parts`](crate::team::Team::run_parts)).
//! Each part is computed by exactly one worker, in the kernel's fixed order,
//! so results are bit-identical for any thread count and any split — which
//! [`with_parts`] lets tests prove by forcing every split.

use std::cell::{Cell, RefCell};
use std::ops::Range;
use std::sync::Mutex;

use rayon::prelude::*;

use crate::dispatch::{thread_override, with_override};
use crate::team::{TeamHandle, in_region};

thread_local! {
    static CURRENT_TEAM: RefCell<Option<TeamHandle>> = const { RefCell::new(None) };
    static FORCED_PARTS: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Runs `f` with `team` as the calling thread's current team.
pub(crate) fn with_team<R>(team: TeamHandle, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<TeamHandle>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT_TEAM.with(|c| *c.borrow_mut() = self.0.take());
        }
    }
    let _restore = Restore(CURRENT_TEAM.with(|c| c.borrow_mut().replace(team)));
    f()
}

/// Runs `f` with every split planned on this thread forced to `parts` parts
/// (clamped to `1 ..= len / align` rounded up) on every available worker,
/// whatever the work size. For tests: every split must give the same bits.
pub fn with_parts<R>(parts: usize, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<usize>);
    impl Drop for Restore {
        fn drop(&mut self) {
            FORCED_PARTS.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(FORCED_PARTS.with(|c| c.replace(Some(parts.max(1)))));
    f()
}

/// Workers a split made on this thread may use: 1 inside a region, the
/// current team's size, else the current rayon pool's.
pub fn available_workers() -> usize {
    if in_region() {
        return 1;
    }
    CURRENT_TEAM
        .with_borrow(|team| team.as_ref().map(TeamHandle::workers))
        .unwrap_or_else(rayon::current_num_threads)
}

/// A planned split of `len` items into `parts` runs of `part_len` (the last
/// may be shorter), taken by at most `workers` workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    /// Items in all.
    pub len: usize,
    /// Items per part (a multiple of the planned alignment).
    pub part_len: usize,
    /// Parts, `len / part_len` rounded up.
    pub parts: usize,
    /// Workers that take part (at most the team's size).
    pub workers: usize,
}

impl Split {
    /// One part on one worker.
    pub fn serial(len: usize) -> Split {
        Split {
            len,
            part_len: len.max(1),
            parts: usize::from(len > 0),
            workers: 1,
        }
    }

    /// Whether more than one worker takes part.
    pub fn is_parallel(&self) -> bool {
        self.workers > 1 && self.parts > 1
    }

    /// The items of part `p`.
    pub fn range(&self, p: usize) -> Range<usize> {
        let start = p * self.part_len;
        start..(start + self.part_len).min(self.len)
    }
}

/// Plans `len` items in units of `align` (parts are whole multiples of it),
/// `work` bytes or FLOPs in all: workers join only while each gets at least
/// `min_work_per_worker`, and each gets about `parts_per_worker` parts (more
/// parts even out a core shared with other work; fewer cost fewer claims and
/// keep longer runs for the prefetcher). See the module docs.
pub fn plan(
    len: usize,
    align: usize,
    work: usize,
    min_work_per_worker: usize,
    parts_per_worker: usize,
) -> Split {
    let align = align.max(1);
    let units = len.div_ceil(align);
    let available = available_workers();
    let (workers, parts) = match FORCED_PARTS.with(Cell::get) {
        Some(parts) => (available, parts),
        None => {
            let by_work = work / min_work_per_worker.max(1);
            let workers = available.min(by_work).max(1);
            (workers, workers.saturating_mul(parts_per_worker.max(1)))
        }
    };
    if units <= 1 || parts <= 1 || workers <= 1 && FORCED_PARTS.with(Cell::get).is_none() {
        return Split::serial(len);
    }
    let part_len = len.div_ceil(parts.min(units)).next_multiple_of(align);
    let parts = len.div_ceil(part_len);
    Split {
        len,
        part_len,
        parts,
        workers: workers.min(parts),
    }
}

/// The split of an elementwise pass over `len` items in runs of `chunk`: one
/// worker below `min_len` (the measured two-worker crossover), else every
/// chunk a part, shared by every worker.
pub fn plan_chunks(len: usize, chunk: usize, min_len: usize) -> Split {
    plan(len, chunk, len, min_len / 2, usize::MAX)
}

/// Runs `f(p)` for every part `p` of `split`, each exactly once, on the
/// current team (or rayon pool) when the split is parallel.
pub fn for_each_part(split: Split, f: impl Fn(usize) + Sync) {
    if !split.is_parallel() {
        (0..split.parts).for_each(f);
        return;
    }
    // A part that calls a kernel dispatches on its worker: carry the caller's
    // `with_path` override there (parts of kernels already hold a SIMD token).
    let path = thread_override();
    let team = CURRENT_TEAM.with_borrow(Clone::clone);
    match team {
        Some(team) => team.run_parts(split.parts, split.workers, &|p| {
            with_override(path, || f(p))
        }),
        None => (0..split.parts)
            .into_par_iter()
            .for_each(|p| with_override(path, || f(p))),
    }
}

/// As [`for_each_part`], for parts that can fail: the error of the lowest
/// failing part is returned (the others still run).
///
/// # Errors
/// The first (by part index) error `f` returned.
pub fn try_for_each_part<E: Send>(
    split: Split,
    f: impl Fn(usize) -> Result<(), E> + Sync,
) -> Result<(), E> {
    let first: Mutex<Option<(usize, E)>> = Mutex::new(None);
    for_each_part(split, |p| {
        if let Err(e) = f(p) {
            let mut first = first.lock().unwrap_or_else(|e| e.into_inner());
            if first.as_ref().is_none_or(|(q, _)| p < *q) {
                *first = Some((p, e));
            }
        }
    });
    match first.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

/// Plans `N` outputs of one region (several matrices over the same input):
/// their `lens` are split as one run of `Σ lens` items would be — the same
/// workers and items per part — but every part lies inside one output and
/// starts at a multiple of `align` in it.
pub fn plan_many<const N: usize>(
    lens: [usize; N],
    align: usize,
    work: usize,
    min_work_per_worker: usize,
    parts_per_worker: usize,
) -> [Split; N] {
    let total = plan(
        lens.iter().sum(),
        align,
        work,
        min_work_per_worker,
        parts_per_worker,
    );
    lens.map(|len| {
        if total.parts <= 1 {
            return Split::serial(len);
        }
        let part_len = total
            .part_len
            .min(len.next_multiple_of(align.max(1)))
            .max(1);
        Split {
            len,
            part_len,
            parts: len.div_ceil(part_len),
            workers: total.workers,
        }
    })
}

/// A slice's base pointer, shared by parts that write disjoint ranges of it.
struct SharedMut<T>(*mut T);

impl<T> Clone for SharedMut<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SharedMut<T> {}

// SAFETY: only used by the `*_mut` loops below, which hand each part a
// disjoint range of one live `&mut [T]` borrowed for the whole loop.
unsafe impl<T: Send> Send for SharedMut<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for SharedMut<T> {}

impl<T> SharedMut<T> {
    /// A method, so closures capture the `Sync` wrapper and not the pointer.
    fn get(self) -> *mut T {
        self.0
    }
}

/// Runs `f(range, &mut y[range])` for every part of `split` (`split.len ==
/// y.len()`), each on one worker.
pub fn for_each_part_mut<T: Send>(
    split: Split,
    y: &mut [T],
    f: impl Fn(Range<usize>, &mut [T]) + Sync,
) {
    assert_eq!(split.len, y.len(), "split planned for another length");
    let base = SharedMut(y.as_mut_ptr());
    for_each_part(split, |p| {
        let range = split.range(p);
        // SAFETY: the parts' ranges are disjoint and inside `y` (`range`
        // clamps to `split.len == y.len()`), and `y` stays mutably borrowed
        // until every part has returned.
        let part =
            unsafe { std::slice::from_raw_parts_mut(base.get().add(range.start), range.len()) };
        f(range, part);
    });
}

/// Runs `f(p, &mut a[p·a_stride ..][..a_stride], &mut b[p·b_stride ..][..b_stride])`
/// for every part `p` of `split` (`split.len` parts of one item each), each on
/// one worker, stopping at the first error (by part index).
///
/// # Errors
/// The first error `f` returned.
///
/// # Panics
/// If `a` or `b` is shorter than `split.len` strides.
pub fn try_for_each_pair_mut<A: Send, B: Send, E: Send>(
    split: Split,
    (a, a_stride): (&mut [A], usize),
    (b, b_stride): (&mut [B], usize),
    f: impl Fn(usize, &mut [A], &mut [B]) -> Result<(), E> + Sync,
) -> Result<(), E> {
    assert!(split.len * a_stride <= a.len() && split.len * b_stride <= b.len());
    let (pa, pb) = (SharedMut(a.as_mut_ptr()), SharedMut(b.as_mut_ptr()));
    try_for_each_part(split, |p| {
        for item in split.range(p) {
            // SAFETY: item `item` owns `a[item·a_stride ..][..a_stride]` and
            // the same of `b`, disjoint from every other item's and inside
            // the slices (asserted above); both stay mutably borrowed until
            // every part has returned.
            let (ai, bi) = unsafe {
                (
                    std::slice::from_raw_parts_mut(pa.get().add(item * a_stride), a_stride),
                    std::slice::from_raw_parts_mut(pb.get().add(item * b_stride), b_stride),
                )
            };
            f(item, ai, bi)?;
        }
        Ok(())
    })
}

/// Runs `f(i, range, &mut ys[i][range])` for every part of every `splits[i]`
/// (`splits[i].len == ys[i].len()`) in one region, each part on one worker;
/// the error of the lowest failing part (outputs in order) is returned.
///
/// # Errors
/// The first error `f` returned.
///
/// # Panics
/// If a split was planned for another length than its output.
pub fn try_for_each_part_mut_many<T: Send, E: Send, const N: usize>(
    splits: [Split; N],
    ys: [&mut [T]; N],
    f: impl Fn(usize, Range<usize>, &mut [T]) -> Result<(), E> + Sync,
) -> Result<(), E> {
    for (split, y) in splits.iter().zip(&ys) {
        assert_eq!(split.len, y.len(), "split planned for another length");
    }
    let bases = ys.map(|y| SharedMut(y.as_mut_ptr()));
    let parts: usize = splits.iter().map(|s| s.parts).sum();
    let all = Split {
        len: parts,
        part_len: 1,
        parts,
        workers: splits.iter().map(|s| s.workers).max().unwrap_or(1),
    };
    try_for_each_part(all, |mut p| {
        let mut i = 0;
        while p >= splits[i].parts {
            p -= splits[i].parts;
            i += 1;
        }
        let range = splits[i].range(p);
        // SAFETY: the parts of `splits[i]` are disjoint ranges inside
        // `ys[i]` (`range` clamps to `splits[i].len == ys[i].len()`), distinct
        // outputs are distinct slices, and every `ys[i]` stays mutably
        // borrowed until every part has returned.
        let part =
            unsafe { std::slice::from_raw_parts_mut(bases[i].get().add(range.start), range.len()) };
        f(i, range, part)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_one_worker_below_the_crossover() {
        let split = plan(1024, 4, 1000, 1000, 4);
        assert!(!split.is_parallel() || available_workers() == 1);
    }

    #[test]
    fn many_splits_cover_every_item_once_inside_their_output() {
        for parts in 1..12 {
            let lens = [37, 0, 12, 64];
            let splits = with_parts(parts, || plan_many(lens, 4, 0, 1, 1));
            for (split, len) in splits.iter().zip(lens) {
                let mut seen = vec![0; len];
                for p in 0..split.parts {
                    let r = split.range(p);
                    assert!(r.start.is_multiple_of(4), "{split:?}");
                    seen[r].iter_mut().for_each(|s| *s += 1);
                }
                assert!(seen.iter().all(|&s| s == 1), "{parts}: {split:?}");
            }
        }
    }

    #[test]
    fn forced_parts_cover_every_item_once_in_aligned_runs() {
        for len in 0..40 {
            for align in [1, 4, 16] {
                for parts in 1..=len.max(1) {
                    let split = with_parts(parts, || plan(len, align, 0, 1, 1));
                    let mut seen = vec![0; len];
                    for p in 0..split.parts {
                        let r = split.range(p);
                        assert!(r.start.is_multiple_of(align), "{split:?}");
                        seen[r].iter_mut().for_each(|s| *s += 1);
                    }
                    assert!(
                        seen.iter().all(|&s| s == 1),
                        "{len} {align} {parts}: {split:?}"
                    );
                }
            }
        }
    }
}
