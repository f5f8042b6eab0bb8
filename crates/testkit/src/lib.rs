//! # smallmind-testkit — what the test suites share
//!
//! Not a layer of the engine: every crate's tests (and the benches) depend on it, nothing else
//! does.
//! - [`fixtures`]: files under the repository's `fixtures/` folder, found from any crate;
//! - [`compare`]: error measures where NaN on either side is a failure, reporting the worst
//!   index;
//! - [`models`]: the optional real-model files named by `SMALLMIND_MODELS`, with skips that the
//!   run shows and `SMALLMIND_REQUIRE_MODELS=1` to turn absence into failure.

pub mod compare;
pub mod fixtures;
pub mod models;

pub use compare::{Worst, max_abs_diff, max_rel_diff, max_rel_to_scale, max_scaled_diff};
pub use fixtures::{fixture, fixtures_dir, pod_vec};
pub use models::{model_file, require_models};
