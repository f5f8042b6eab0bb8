//! `--model` values shared by the subcommands: a GGUF file, a Hugging Face directory, or a
//! preset name.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use smallmind_model::preset::{PRESET_SEED, Preset};
use smallmind_model::{Model, gguf, loader};
use smallmind_tokenizer::{CHAR_TOKENIZER_FILE, CharTokenizer, Tokenizer};

type BoxError = Box<dyn std::error::Error>;

/// A model with its tokenizer, when it ships one.
pub(crate) struct LoadedModel {
    /// A short name for reports: the preset, or the file or directory name.
    pub(crate) name: String,
    pub(crate) model: Model,
    /// From the GGUF metadata or the directory's `tokenizer.json`; presets have none.
    pub(crate) tokenizer: Option<Tokenizer>,
    /// The char vocabulary of a `smallmind train` checkpoint (`tokenizer_chars.json`).
    pub(crate) chars: Option<CharTokenizer>,
}

/// A model's text codec: byte-level BPE, a char vocabulary, or none (ids only).
#[derive(Clone, Copy)]
pub(crate) enum Codec<'a> {
    /// GGUF or `tokenizer.json` BPE.
    Bpe(&'a Tokenizer),
    /// A char-level vocabulary from `smallmind train`.
    Chars(&'a CharTokenizer),
    /// No tokenizer: prompts and outputs are token ids.
    Ids,
}

/// Loads `spec`: a `.gguf` file, a Hugging Face directory (config.json, model.safetensors and,
/// if present, tokenizer.json, or the tokenizer_chars.json of a `smallmind train` checkpoint),
/// or a preset (m-small, m-medium, m-large, m-gpt2; seeded random
/// weights, no tokenizer).
pub(crate) fn load(spec: &str) -> Result<LoadedModel, BoxError> {
    let _spinner = LoadingSpinner::after(SPINNER_DELAY, format!("loading {spec}"));
    load_quietly(spec)
}

fn load_quietly(spec: &str) -> Result<LoadedModel, BoxError> {
    let path = Path::new(spec);
    let name = || {
        path.file_name()
            .map_or(spec.into(), |n| n.to_string_lossy().into_owned())
    };
    if path.is_file() {
        let (model, tokenizer) = gguf::load_gguf_with_tokenizer(path)?;
        return Ok(LoadedModel {
            name: name(),
            model,
            tokenizer: Some(tokenizer),
            chars: None,
        });
    }
    if path.is_dir() {
        let tokenizer_json = path.join("tokenizer.json");
        let tokenizer = if tokenizer_json.is_file() {
            Some(Tokenizer::from_tokenizer_json_file(&tokenizer_json)?)
        } else {
            None
        };
        let chars_file = path.join(CHAR_TOKENIZER_FILE);
        let chars = if chars_file.is_file() {
            Some(CharTokenizer::load(&chars_file)?)
        } else {
            None
        };
        return Ok(LoadedModel {
            name: name(),
            model: loader::load_dir(path)?,
            tokenizer,
            chars,
        });
    }
    match Preset::parse(spec) {
        Ok(preset) => Ok(LoadedModel {
            name: preset.name().to_string(),
            model: preset.model(PRESET_SEED)?,
            tokenizer: None,
            chars: None,
        }),
        Err(_) => Err(format!(
            "--model {spec:?} is not a GGUF file, a model directory or a preset \
             (m-small, m-medium, m-large, m-gpt2)"
        )
        .into()),
    }
}

/// Loads `spec` for commands that need only the weights.
pub(crate) fn load_model(spec: &str) -> Result<(String, Model), BoxError> {
    let loaded = load(spec)?;
    Ok((loaded.name, loaded.model))
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

impl<'a> Codec<'a> {
    /// The codec of a model's tokenizers: BPE if it has one, else its char vocabulary.
    pub(crate) fn new(tokenizer: Option<&'a Tokenizer>, chars: Option<&'a CharTokenizer>) -> Self {
        match (tokenizer, chars) {
            (Some(t), _) => Codec::Bpe(t),
            (None, Some(c)) => Codec::Chars(c),
            (None, None) => Codec::Ids,
        }
    }

    /// The BPE tokenizer, if that is the codec.
    pub(crate) fn bpe(self) -> Option<&'a Tokenizer> {
        match self {
            Codec::Bpe(t) => Some(t),
            _ => None,
        }
    }
}
