//! Telemetry for smallmind *binaries*: the layer that turns `tracing` spans into a hot-path
//! table, a counting global allocator, reports as Markdown and JSON, and the comparison of two
//! reports.
//!
//! The library crates never depend on this crate: they create their `tracing` spans once, when a
//! model or session is built, and enter them on the hot path. With no subscriber installed an
//! entry is a branch on a disabled span. A binary that wants the figures installs
//! [`HotPathLayer`] (for example with [`hot_path_dispatch`]) and, optionally, the
//! [`alloc::CountingAllocator`] as its global allocator.
//!
//! ```text
//! spans (model, ops) ──▶ HotPathLayer ──▶ HotPath::rows ──▶ Report ──▶ Markdown / JSON
//!                                                             └──▶ compare(before, after)
//! ```

pub mod alloc;
#[cfg(feature = "chrome")]
pub mod chrome;
pub mod compare;
pub mod error;
pub mod hot_path;
pub mod process;
pub mod report;

pub use compare::{Comparison, Verdict, compare};
pub use error::{Result, TelemetryError};
pub use hot_path::{HotPath, HotPathLayer};
pub use report::{Coverage, Metric, Report, SpanRow};

use tracing_subscriber::layer::SubscriberExt;

/// A dispatcher with just the hot-path layer, and the handle that reads it. Install it with
/// `tracing::dispatcher::with_default` around the code that *creates* the spans (they remember
/// their dispatcher), or set it as the global default.
pub fn hot_path_dispatch(layer: HotPathLayer) -> tracing::Dispatch {
    tracing::Dispatch::new(tracing_subscriber::registry().with(layer))
}
