//! `--model` values: whatever `smallmind::load` takes (a GGUF file, a Hugging Face directory or
//! `smallmind train` checkpoint, a preset name), loaded behind a spinner.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use smallmind::TextModel;

/// Loads `spec` with `smallmind::load`, showing a spinner if that takes a while.
pub(crate) fn load(spec: &str) -> Result<TextModel, smallmind::Error> {
    let _spinner = LoadingSpinner::after(SPINNER_DELAY, format!("loading {spec}"));
    smallmind::load(spec)
}

/// Loads that finish sooner show nothing.
const SPINNER_DELAY: Duration = Duration::from_millis(500);

/// A spinner on stderr that appears only if it is still alive after a delay (a memory-mapped
/// model loads in milliseconds once the file is in the page cache; a cold multi-gigabyte file
/// takes seconds). Dropping it stops and clears it.
struct LoadingSpinner {
    done: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl LoadingSpinner {
    fn after(delay: Duration, message: String) -> LoadingSpinner {
        let (done, finished) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            if finished.recv_timeout(delay) != Err(RecvTimeoutError::Timeout) {
                return;
            }
            let spinner = ProgressBar::new_spinner().with_message(message);
            spinner.set_style(
                ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            spinner.enable_steady_tick(Duration::from_millis(100));
            let _ = finished.recv();
            spinner.finish_and_clear();
        });
        LoadingSpinner {
            done: Some(done),
            thread: Some(thread),
        }
    }
}

impl Drop for LoadingSpinner {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The activation precision of `--exact` (f32) or its absence (Q8, the default).
pub(crate) fn activations(exact: bool) -> smallmind_model::ActivationPrecision {
    if exact {
        smallmind_model::ActivationPrecision::F32
    } else {
        smallmind_model::ActivationPrecision::Quantized
    }
}
