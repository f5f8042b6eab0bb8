//! Chrome-trace export (feature `chrome`): every span as a slice on its thread's track, for
//! `chrome://tracing` or <https://ui.perfetto.dev>, through the `tracing-chrome` crate.

use std::path::Path;

use tracing_subscriber::layer::SubscriberExt;

use crate::HotPathLayer;

pub use tracing_chrome::FlushGuard;

/// A dispatcher with the hot-path layer plus a Chrome-trace writer to `path`. The file is
/// complete once the returned guard is dropped.
pub fn hot_path_and_chrome_dispatch(
    layer: HotPathLayer,
    path: &Path,
) -> (tracing::Dispatch, FlushGuard) {
    let (chrome, guard) = tracing_chrome::ChromeLayerBuilder::new()
        .file(path)
        .include_args(false)
        .build();
    let subscriber = tracing_subscriber::registry().with(layer).with(chrome);
    (tracing::Dispatch::new(subscriber), guard)
}
