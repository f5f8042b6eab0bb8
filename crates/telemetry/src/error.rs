//! The telemetry crate's errors.

use std::path::PathBuf;

/// What can go wrong reading or writing reports.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// A file could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        error: std::io::Error,
    },
    /// A report is not valid JSON of the expected shape.
    #[error("{source_name} is not a smallmind telemetry report: {error}")]
    Json {
        /// Where the JSON came from.
        source_name: String,
        /// The cause.
        error: serde_json::Error,
    },
}

/// This crate's result type.
pub type Result<T, E = TelemetryError> = std::result::Result<T, E>;
