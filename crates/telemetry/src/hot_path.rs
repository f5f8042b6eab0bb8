//! [`HotPathLayer`]: a `tracing_subscriber` layer that aggregates span busy time by call path.
//!
//! Each time a span is entered and exited on a thread, the layer adds the time between the two
//! to a node of a call tree keyed by the span names on that thread's stack of entered spans
//! (`decode/attention.core`), so the same span reached from two parents counts as two rows. A
//! node keeps calls, total and self time (total minus time in child spans), min/max per call,
//! and, when [`crate::alloc::CountingAllocator`] is installed, the allocations made inside it.
//!
//! The parent is the span entered *at the time*, not the span's creation-time parent: the
//! library crates create their spans once, at load, and enter them on the hot path.
//!
//! The layer's own work between a parent's clock readings — the registry lookup and bookkeeping
//! of each child entry — is measured (two more clock readings per entry) and kept apart as the
//! parent's `overhead_ns`, so a parent's self time is its own code only.
//!
//! Each thread records into its own tree behind its own (uncontended) lock; [`HotPath::rows`]
//! merges them. Timing reads the CPU's time-stamp counter through `quanta` (calibrated against
//! the OS clock; a fraction of the cost of `Instant::now` on virtual machines), twice per span
//! entry.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use thread_local::ThreadLocal;
use tracing::Subscriber;
use tracing::span::Id;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::alloc::AllocCounts;
use crate::report::SpanRow;

/// The layer (install it on a `tracing_subscriber::Registry`); see the module docs.
#[derive(Debug)]
pub struct HotPathLayer {
    shared: Arc<Shared>,
}

/// The handle that reads and resets what a [`HotPathLayer`] recorded.
#[derive(Clone, Debug)]
pub struct HotPath {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    clock: quanta::Clock,
    threads: ThreadLocal<Mutex<ThreadTree>>,
    injected_delay: Option<InjectedDelay>,
}

/// A deliberate slowdown of one span, for testing that a comparison flags it.
#[derive(Clone, Copy, Debug)]
struct InjectedDelay {
    span: &'static str,
    delay: Duration,
}

impl HotPathLayer {
    /// A layer and the handle that reads it.
    pub fn new() -> (HotPathLayer, HotPath) {
        Self::build(None)
    }

    /// Test hook: as [`HotPathLayer::new`], but every entry into a span named `span` busy-waits
    /// for `delay` inside the span, as a slower build of that code would.
    pub fn with_injected_delay(span: &'static str, delay: Duration) -> (HotPathLayer, HotPath) {
        Self::build(Some(InjectedDelay { span, delay }))
    }

    fn build(injected_delay: Option<InjectedDelay>) -> (HotPathLayer, HotPath) {
        let shared = Arc::new(Shared {
            clock: quanta::Clock::new(),
            threads: ThreadLocal::new(),
            injected_delay,
        });
        let handle = HotPath {
            shared: Arc::clone(&shared),
        };
        (HotPathLayer { shared }, handle)
    }

    fn tree(&self) -> std::sync::MutexGuard<'_, ThreadTree> {
        let tree = self.shared.threads.get_or_default();
        tree.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<S> Layer<S> for HotPathLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let called = self.shared.clock.raw();
        let Some(name) = ctx.metadata(id).map(|m| m.name()) else {
            return;
        };
        let mut tree = self.tree();
        tree.enter(id.clone(), name, called, &self.shared.clock);
        if let Some(slow) = self.shared.injected_delay.filter(|d| d.span == name) {
            drop(tree);
            spin_for(slow.delay);
        }
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        let called = self.shared.clock.raw();
        self.tree().exit(id, called, &self.shared.clock);
    }
}

/// Busy-waits (a sleeping thread would not look like slower code to a profiler).
fn spin_for(delay: Duration) {
    let start = Instant::now();
    while start.elapsed() < delay {
        std::hint::spin_loop();
    }
}

impl HotPath {
    /// Forgets everything recorded so far (for example after a warm-up run). Spans open right
    /// now still close normally.
    pub fn reset(&self) {
        for tree in self.shared.threads.iter() {
            let mut tree = tree.lock().unwrap_or_else(PoisonError::into_inner);
            tree.reset(&self.shared.clock);
        }
    }

    /// The call tree of every thread, merged by path, depth-first with the busiest child first.
    pub fn rows(&self) -> Vec<SpanRow> {
        let mut merged = ThreadTree::default();
        for tree in self.shared.threads.iter() {
            merged.merge(&tree.lock().unwrap_or_else(PoisonError::into_inner));
        }
        merged.rows()
    }
}

/// Node 0 is the root (no span); every other node is a span name under its parent.
#[derive(Debug)]
struct ThreadTree {
    nodes: Vec<Node>,
    stack: Vec<Frame>,
}

#[derive(Debug)]
struct Node {
    name: &'static str,
    children: Vec<usize>,
    stats: Stats,
}

#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    calls: u64,
    total_ns: u64,
    self_ns: u64,
    overhead_ns: u64,
    min_ns: u64,
    max_ns: u64,
    alloc: AllocCounts,
}

/// One entered span on this thread.
#[derive(Debug)]
struct Frame {
    id: Id,
    node: usize,
    /// `quanta` raw clock readings: when `on_enter` was called, and when the span's time starts.
    called: u64,
    start: u64,
    child_ns: u64,
    /// Layer time spent on the entries of child spans, raw clock ticks.
    child_overhead: u64,
    alloc_at_entry: AllocCounts,
}

impl Default for ThreadTree {
    fn default() -> Self {
        ThreadTree {
            nodes: vec![Node::new("")],
            stack: Vec::with_capacity(16),
        }
    }
}

impl Node {
    fn new(name: &'static str) -> Node {
        Node {
            name,
            children: Vec::new(),
            stats: Stats::default(),
        }
    }
}

impl Stats {
    fn add(&mut self, other: &Stats) {
        if other.calls == 0 {
            return;
        }
        self.min_ns = if self.calls == 0 {
            other.min_ns
        } else {
            self.min_ns.min(other.min_ns)
        };
        self.max_ns = self.max_ns.max(other.max_ns);
        self.calls += other.calls;
        self.total_ns += other.total_ns;
        self.self_ns += other.self_ns;
        self.overhead_ns += other.overhead_ns;
        self.alloc.count += other.alloc.count;
        self.alloc.bytes += other.alloc.bytes;
    }
}

impl ThreadTree {
    fn enter(&mut self, id: Id, name: &'static str, called: u64, clock: &quanta::Clock) {
        let parent = self.stack.last().map_or(0, |f| f.node);
        let node = self.child(parent, name);
        self.stack.push(Frame {
            id,
            node,
            called,
            child_ns: 0,
            child_overhead: 0,
            alloc_at_entry: AllocCounts::this_thread(),
            start: clock.raw(),
        });
    }

    /// Closes `id` (and whatever was entered after it); `end` is when `on_exit` was called.
    fn exit(&mut self, id: &Id, end: u64, clock: &quanta::Clock) {
        // Guards exit in LIFO order; if a span is exited out of order, close everything
        // entered after it too.
        let Some(depth) = self.stack.iter().rposition(|f| f.id == *id) else {
            return;
        };
        while self.stack.len() > depth {
            let Some(frame) = self.stack.pop() else {
                break;
            };
            let elapsed = clock.delta_as_nanos(frame.start, end);
            let overhead_ns = clock.delta_as_nanos(0, frame.child_overhead);
            let alloc = AllocCounts::this_thread().since(frame.alloc_at_entry);
            self.nodes[frame.node].stats.add(&Stats {
                calls: 1,
                total_ns: elapsed,
                self_ns: elapsed.saturating_sub(frame.child_ns + overhead_ns),
                overhead_ns,
                min_ns: elapsed,
                max_ns: elapsed,
                alloc,
            });
            if let Some(parent) = self.stack.last_mut() {
                parent.child_ns += elapsed;
                let done = clock.raw();
                let entry = frame.start.saturating_sub(frame.called);
                parent.child_overhead += entry + done.saturating_sub(end);
            }
        }
    }

    /// The child of `parent` named `name`, created on first use. Names are `&'static str`
    /// from span metadata; children are few, so a scan beats a map.
    fn child(&mut self, parent: usize, name: &'static str) -> usize {
        let found = self.nodes[parent]
            .children
            .iter()
            .copied()
            .find(|&c| self.nodes[c].name == name);
        found.unwrap_or_else(|| {
            self.nodes.push(Node::new(name));
            let node = self.nodes.len() - 1;
            self.nodes[parent].children.push(node);
            node
        })
    }

    fn reset(&mut self, clock: &quanta::Clock) {
        for node in &mut self.nodes {
            node.stats = Stats::default();
        }
        for frame in &mut self.stack {
            frame.start = clock.raw();
            frame.called = frame.start;
            frame.child_ns = 0;
            frame.child_overhead = 0;
            frame.alloc_at_entry = AllocCounts::this_thread();
        }
    }

    fn merge(&mut self, other: &ThreadTree) {
        self.merge_node(0, other, 0);
    }

    fn merge_node(&mut self, into: usize, other: &ThreadTree, from: usize) {
        let stats = other.nodes[from].stats;
        self.nodes[into].stats.add(&stats);
        for &child in &other.nodes[from].children {
            let mine = self.child(into, other.nodes[child].name);
            self.merge_node(mine, other, child);
        }
    }

    fn rows(&self) -> Vec<SpanRow> {
        let mut rows = Vec::new();
        self.push_rows(0, "", 0, &mut rows);
        rows
    }

    fn push_rows(&self, node: usize, path: &str, depth: usize, rows: &mut Vec<SpanRow>) {
        let mut children = self.nodes[node].children.clone();
        children.sort_by_key(|&c| std::cmp::Reverse(self.nodes[c].stats.total_ns));
        for child in children {
            let Node { name, stats, .. } = &self.nodes[child];
            if stats.calls == 0 && self.nodes[child].children.is_empty() {
                continue;
            }
            let child_path = if path.is_empty() {
                (*name).to_string()
            } else {
                format!("{path}/{name}")
            };
            rows.push(SpanRow {
                path: child_path.clone(),
                name: (*name).to_string(),
                depth,
                calls: stats.calls,
                total_ns: stats.total_ns,
                self_ns: stats.self_ns,
                overhead_ns: stats.overhead_ns,
                min_ns: stats.min_ns,
                max_ns: stats.max_ns,
                alloc_count: stats.alloc.count,
                alloc_bytes: stats.alloc.bytes,
            });
            self.push_rows(child, &child_path, depth + 1, rows);
        }
    }
}
