//! Checkpoints: a directory that `smallmind generate`, the model crate and
//! Hugging Face transformers all load, plus what resuming training needs.
//!
//! # Layout of a checkpoint directory
//!
//! | file | content |
//! |---|---|
//! | [`MODEL_FILE`] `model.safetensors` | every parameter, f32, Hugging Face `GPT2LMHeadModel` names and Conv1D `[in, out]` layout ([`ParamLayout`]); no `lm_head.weight` when the head is tied |
//! | [`CONFIG_FILE`] `config.json` | Hugging Face GPT-2 config ([`hf_config_json`]): `model_type` `gpt2`, dropout 0 |
//! | [`CHAR_TOKENIZER_FILE`] `tokenizer_chars.json` | the char vocabulary (see `smallmind_tokenizer::char_level`) |
//! | [`OPTIMIZER_FILE`] `optimizer.safetensors` | AdamW moments `m.<name>`, `v.<name>` (f32, parameter shapes); metadata `step`, `lr`, `beta1`, `beta2`, `eps`, `weight_decay` |
//! | [`STATE_FILE`] `trainer_state.json` | [`TrainerState`]: step, seed, schedule, batch sampler position, losses |
//!
//! # Atomic saves
//!
//! [`Checkpoint::save`] writes every file into a fresh sibling directory
//! `.NAME.tmp-…`, syncs each file and the directory, then swaps it in:
//! `NAME` → `.NAME.old`, temp → `NAME`, and deletes `.NAME.old`. Until the
//! new directory is complete, the previous checkpoint is untouched; if the
//! process dies between the two renames, `.NAME.old` holds the previous
//! checkpoint and both [`Checkpoint::load`] and the next save restore it.
//! Temp directories of saves whose process died are deleted by the next save
//! (Linux).
//!
//! # Loading
//!
//! [`Checkpoint::load`] never trusts sizes: the `safetensors` crate checks the
//! header and offsets against the file, and every tensor's dtype, shape and
//! name are checked against the config's layout. A checkpoint of another
//! config is a [`TrainError::ConfigMismatch`] naming the Hugging Face key.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use smallmind_model::{Activation, Architecture, ModelConfig};
use smallmind_tokenizer::{CHAR_TOKENIZER_FILE, CharTokenizer};

use crate::data::SamplerState;
use crate::error::{Result, TrainError, check_len};
use crate::optim::AdamW;
use crate::params::ParamLayout;
use crate::schedule::LrSchedule;

/// The weights file.
pub const MODEL_FILE: &str = "model.safetensors";
/// The Hugging Face config file.
pub const CONFIG_FILE: &str = "config.json";
/// The optimizer state file.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// The trainer state file.
pub const STATE_FILE: &str = "trainer_state.json";
/// The version written in [`TrainerState::format_version`].
pub const FORMAT_VERSION: u32 = 1;

/// Prefix of the first AdamW moment's tensors in [`OPTIMIZER_FILE`].
const M_PREFIX: &str = "m.";
/// Prefix of the second AdamW moment's tensors in [`OPTIMIZER_FILE`].
const V_PREFIX: &str = "v.";

/// Where a training run stands: everything beyond the tensors that resuming
/// needs to continue exactly as the uninterrupted run would have.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Version of this format ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// Optimizer steps completed.
    pub step: u64,
    /// The run's seed (initialization and batches).
    pub seed: u64,
    /// The learning-rate schedule.
    pub schedule: LrSchedule,
    /// The training batch sampler's position after `step` steps.
    pub sampler: SamplerState,
    /// Rows per batch.
    pub batch_size: usize,
    /// Tokens per row.
    pub context: usize,
    /// Micro-batches accumulated per optimizer step.
    pub grad_accum: usize,
    /// Gradient clipping threshold (global L2 norm), if any.
    pub grad_clip: Option<f32>,
    /// Held-out fraction of the token stream.
    pub val_fraction: f32,
    /// Training tokens consumed so far.
    pub tokens_seen: u64,
    /// The last training loss, if any step ran.
    pub last_train_loss: Option<f32>,
    /// The last validation loss, if evaluated.
    pub last_val_loss: Option<f32>,
    /// The best validation loss so far.
    pub best_val_loss: Option<f32>,
    /// The data file or directory, as given.
    pub data_source: String,
}

impl TrainerState {
    /// The state of a run that has not stepped yet: step 0, the sampler at
    /// the start of `seed`'s stream, no accumulation or clipping, no losses.
    pub fn new(
        seed: u64,
        schedule: LrSchedule,
        batch_size: usize,
        context: usize,
        data_source: impl Into<String>,
    ) -> Self {
        TrainerState {
            format_version: FORMAT_VERSION,
            step: 0,
            seed,
            schedule,
            sampler: crate::data::BatchSampler::new(seed).state(),
            batch_size,
            context,
            grad_accum: 1,
            grad_clip: None,
            val_fraction: crate::data::DEFAULT_VAL_FRACTION,
            tokens_seen: 0,
            last_train_loss: None,
            last_val_loss: None,
            best_val_loss: None,
            data_source: data_source.into(),
        }
    }
}

/// What [`Checkpoint::save`] writes, borrowed from the trainer.
#[derive(Clone, Copy, Debug)]
pub struct CheckpointView<'a> {
    /// The model config (GPT-2).
    pub config: &'a ModelConfig,
    /// The flat parameters, in [`ParamLayout::gpt2`] order.
    pub params: &'a [f32],
    /// The optimizer, whose moments and step are saved.
    pub optimizer: Option<&'a AdamW>,
    /// The char vocabulary.
    pub tokenizer: Option<&'a CharTokenizer>,
    /// The trainer state.
    pub state: Option<&'a TrainerState>,
}

/// A loaded checkpoint.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// The model config read from `config.json`.
    pub config: ModelConfig,
    /// The flat parameters, in [`ParamLayout::gpt2`] order.
    pub params: Vec<f32>,
    /// The optimizer with its hyperparameters, moments and step, if saved.
    pub optimizer: Option<AdamW>,
    /// The char vocabulary, if saved.
    pub tokenizer: Option<CharTokenizer>,
    /// The trainer state, if saved.
    pub state: Option<TrainerState>,
}

impl Checkpoint {
    /// Saves a checkpoint atomically into `dir` (see the module docs). The
    /// whole directory is replaced; a non-empty `dir` that holds neither
    /// `config.json` nor `model.safetensors` is refused, so a wrong `--out`
    /// never deletes unrelated files.
    ///
    /// # Errors
    /// [`TrainError::ShapeMismatch`] if the parameters or moments do not
    /// fit the config's layout (checked before anything is written),
    /// [`TrainError::Io`] / [`TrainError::Checkpoint`] if writing fails; the
    /// previous checkpoint in `dir` is intact in every case.
    pub fn save(dir: impl AsRef<Path>, view: &CheckpointView<'_>) -> Result<()> {
        let dir = dir.as_ref();
        let layout = ParamLayout::gpt2(view.config)?;
        check_len("checkpoint parameters", layout.len(), view.params.len())?;
        if let Some(opt) = view.optimizer {
            check_len("checkpoint optimizer moments", layout.len(), opt.len())?;
        }
        let (parent, name) = split_dir(dir)?;
        check_replaceable(dir)?;
        std::fs::create_dir_all(&parent).map_err(|e| io_error(&parent, e))?;
        recover_interrupted_swap(dir, &old_dir(&parent, &name))?;
        remove_stale_temps(&parent, &name);
        let temp = parent.join(format!(".{name}.tmp-{}", unique_suffix()));
        let written = write_all_files(&temp, &layout, view);
        if let Err(error) = written {
            let _ = std::fs::remove_dir_all(&temp);
            return Err(error);
        }
        swap_in(&temp, dir, &old_dir(&parent, &name))
    }

    /// Loads the checkpoint in `dir`. With `expected`, the saved config must
    /// match it (see the module docs). The optimizer, tokenizer and trainer
    /// state are `None` when their file is absent; a present file must be
    /// valid.
    ///
    /// # Errors
    /// [`TrainError::ConfigMismatch`] naming the differing key,
    /// [`TrainError::Checkpoint`] for a missing, truncated or corrupt file
    /// (naming it and the tensor at fault), [`TrainError::Tokenizer`] for a
    /// bad vocabulary file.
    pub fn load(dir: impl AsRef<Path>, expected: Option<&ModelConfig>) -> Result<Self> {
        let dir = resolve_dir(dir.as_ref())?;
        let config = read_config(&dir)?;
        if let Some(expected) = expected {
            compare_configs(&dir, expected, &config)?;
        }
        let layout = ParamLayout::gpt2(&config)?;
        let params = read_params(
            &dir.join(MODEL_FILE),
            &layout,
            "",
            config.tie_word_embeddings,
        )?;
        let optimizer = optional(&dir.join(OPTIMIZER_FILE), |p| read_optimizer(p, &layout))?;
        let tokenizer = optional(&dir.join(CHAR_TOKENIZER_FILE), |p| {
            read_tokenizer(p, config.vocab_size)
        })?;
        let state = optional(&dir.join(STATE_FILE), read_state)?;
        Ok(Checkpoint {
            config,
            params,
            optimizer,
            tokenizer,
            state,
        })
    }
}

/// The Hugging Face `config.json` of a GPT-2 config: what both
/// `ModelConfig::from_hf_json` and `GPT2Config` read, with every dropout at 0
/// (our trainer has none), and `bos`/`eos` ids as given (`null` when none,
/// rather than GPT-2's default 50256, outside a char vocabulary).
///
/// # Errors
/// [`TrainError::UnsupportedConfig`] for a non-GPT-2 config.
pub fn hf_config_json(config: &ModelConfig) -> Result<String> {
    if config.architecture != Architecture::Gpt2 {
        return Err(TrainError::UnsupportedConfig(format!(
            "checkpoints are GPT-2, not {:?}",
            config.architecture
        )));
    }
    let eos = match config.eos_token_ids.as_slice() {
        [] => Value::Null,
        [one] => json!(one),
        many => json!(many),
    };
    let value = json!({
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "vocab_size": config.vocab_size,
        "n_embd": config.hidden_size,
        "n_layer": config.num_layers,
        "n_head": config.num_heads,
        "n_positions": config.max_position_embeddings,
        "n_ctx": config.max_position_embeddings,
        "n_inner": config.intermediate_size,
        "activation_function": activation_name(config.activation),
        "layer_norm_epsilon": shortest_f64(config.norm_eps),
        "tie_word_embeddings": config.tie_word_embeddings,
        "scale_attn_weights": true,
        "scale_attn_by_inverse_layer_idx": false,
        "reorder_and_upcast_attn": false,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "summary_first_dropout": 0.0,
        "initializer_range": 0.02,
        "use_cache": true,
        "bos_token_id": config.bos_token_id,
        "eos_token_id": eos,
        "torch_dtype": "float32",
    });
    Ok(serde_json::to_string_pretty(&value).unwrap_or_default())
}

fn activation_name(activation: Activation) -> &'static str {
    match activation {
        Activation::GeluErf => "gelu",
        Activation::GeluTanh | Activation::Silu => "gelu_new",
    }
}

/// The f64 with the shortest decimal form that rounds back to `x`, so JSON
/// shows `1e-5`, not `9.999999747378752e-6`.
fn shortest_f64(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
}

/// Writes every file of the checkpoint into the fresh directory `temp`.
fn write_all_files(temp: &Path, layout: &ParamLayout, view: &CheckpointView<'_>) -> Result<()> {
    std::fs::create_dir(temp).map_err(|e| io_error(temp, e))?;
    write_synced(
        &temp.join(CONFIG_FILE),
        hf_config_json(view.config)?.as_bytes(),
    )?;
    let tensors = layout
        .entries()
        .iter()
        .map(|e| (e.name.clone(), f32_view(&e.shape, &view.params[e.range()])));
    write_safetensors(&temp.join(MODEL_FILE), tensors, None)?;
    if let Some(opt) = view.optimizer {
        write_optimizer(&temp.join(OPTIMIZER_FILE), layout, opt)?;
    }
    if let Some(tokenizer) = view.tokenizer {
        write_synced(
            &temp.join(CHAR_TOKENIZER_FILE),
            tokenizer.to_json().as_bytes(),
        )?;
    }
    if let Some(state) = view.state {
        let text = serde_json::to_string_pretty(state).map_err(|e| TrainError::Checkpoint {
            path: temp.join(STATE_FILE),
            reason: e.to_string(),
        })?;
        write_synced(&temp.join(STATE_FILE), text.as_bytes())?;
    }
    sync_path(temp)
}

fn write_optimizer(path: &Path, layout: &ParamLayout, opt: &AdamW) -> Result<()> {
    let moments = [(M_PREFIX, opt.m()), (V_PREFIX, opt.v())];
    let tensors = moments.into_iter().flat_map(|(prefix, buffer)| {
        layout.entries().iter().map(move |e| {
            (
                format!("{prefix}{}", e.name),
                f32_view(&e.shape, &buffer[e.range()]),
            )
        })
    });
    let metadata = HashMap::from([
        ("step".to_owned(), opt.step_count().to_string()),
        ("lr".to_owned(), opt.lr.to_string()),
        ("beta1".to_owned(), opt.beta1.to_string()),
        ("beta2".to_owned(), opt.beta2.to_string()),
        ("eps".to_owned(), opt.eps.to_string()),
        ("weight_decay".to_owned(), opt.weight_decay.to_string()),
    ]);
    write_safetensors(path, tensors, Some(metadata))
}

/// A safetensors view of `f32` data (little-endian, as the format requires;
/// every target of this crate is little-endian).
fn f32_view<'a>(shape: &[usize], data: &'a [f32]) -> TensorView<'a> {
    let bytes: &'a [u8] = bytemuck::cast_slice(data);
    // The byte count is exactly shape × 4 by construction of the layout.
    TensorView::new(Dtype::F32, shape.to_vec(), bytes).unwrap_or_else(|_| unreachable!())
}

fn write_safetensors<'a>(
    path: &Path,
    tensors: impl Iterator<Item = (String, TensorView<'a>)>,
    metadata: Option<HashMap<String, String>>,
) -> Result<()> {
    safetensors::serialize_to_file(tensors, metadata, path).map_err(|e| {
        TrainError::Checkpoint {
            path: path.to_owned(),
            reason: format!("cannot write: {e}"),
        }
    })?;
    sync_path(path)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| io_error(path, e))?;
    sync_path(path)
}

/// Flushes a file or directory to disk.
fn sync_path(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_error(path, e))
}

/// Refuses to replace anything but a missing or empty directory or a checkpoint.
fn check_replaceable(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let refuse = |reason: &str| TrainError::Checkpoint {
        path: dir.to_owned(),
        reason: reason.to_owned(),
    };
    if !dir.is_dir() {
        return Err(refuse("exists and is not a directory"));
    }
    let mut entries = std::fs::read_dir(dir).map_err(|e| io_error(dir, e))?;
    let is_empty = entries.next().is_none();
    let is_checkpoint = dir.join(CONFIG_FILE).is_file() || dir.join(MODEL_FILE).is_file();
    if is_empty || is_checkpoint {
        return Ok(());
    }
    Err(refuse(
        "is a non-empty directory without config.json or model.safetensors; \
         refusing to replace it with a checkpoint",
    ))
}

/// Moves the complete `temp` to `dir`, keeping the old `dir` until then.
fn swap_in(temp: &Path, dir: &Path, old: &Path) -> Result<()> {
    let had_previous = dir.exists();
    if had_previous {
        if old.exists() {
            std::fs::remove_dir_all(old).map_err(|e| io_error(old, e))?;
        }
        std::fs::rename(dir, old).map_err(|e| io_error(dir, e))?;
    }
    if let Err(error) = std::fs::rename(temp, dir) {
        if had_previous {
            let _ = std::fs::rename(old, dir);
        }
        let _ = std::fs::remove_dir_all(temp);
        return Err(io_error(dir, error));
    }
    if let Some(parent) = dir.parent() {
        let _ = sync_path(parent);
    }
    if had_previous {
        std::fs::remove_dir_all(old).map_err(|e| io_error(old, e))?;
    }
    Ok(())
}

/// After a crash between the two renames of [`swap_in`], `dir` is missing
/// and `old` holds the previous checkpoint: put it back.
fn recover_interrupted_swap(dir: &Path, old: &Path) -> Result<()> {
    if !dir.exists() && old.is_dir() {
        tracing::warn!("restoring {} from an interrupted save", dir.display());
        std::fs::rename(old, dir).map_err(|e| io_error(old, e))?;
    }
    Ok(())
}

/// Deletes the temp directories `.NAME.tmp-PID-…` of saves whose process
/// is gone (a crash mid-save), so they do not pile up. Linux only (it asks
/// `/proc` whether the process lives); best effort, errors are ignored.
fn remove_stale_temps(parent: &Path, name: &str) {
    if !cfg!(target_os = "linux") {
        return;
    }
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let prefix = format!(".{name}.tmp-");
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists();
        if !alive {
            tracing::warn!("removing {} left by a crashed save", entry.path().display());
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The directory to load: `dir`, or its `.old` sibling after an interrupted save.
fn resolve_dir(dir: &Path) -> Result<PathBuf> {
    if dir.is_dir() {
        return Ok(dir.to_owned());
    }
    if let Ok((parent, name)) = split_dir(dir) {
        let old = old_dir(&parent, &name);
        if old.is_dir() {
            tracing::warn!("loading {} (left by an interrupted save)", old.display());
            return Ok(old);
        }
    }
    Err(TrainError::Checkpoint {
        path: dir.to_owned(),
        reason: "no such checkpoint directory".into(),
    })
}

/// The parent directory and final name of `dir`.
fn split_dir(dir: &Path) -> Result<(PathBuf, String)> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| TrainError::Checkpoint {
            path: dir.to_owned(),
            reason: "a checkpoint directory needs a UTF-8 final name".into(),
        })?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    Ok((parent, name.to_owned()))
}

fn old_dir(parent: &Path, name: &str) -> PathBuf {
    parent.join(format!(".{name}.old"))
}

/// A suffix no other save of this machine uses at the same time.
fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}-{nanos}-{n}", std::process::id())
}

fn read_config(dir: &Path) -> Result<ModelConfig> {
    let path = dir.join(CONFIG_FILE);
    ModelConfig::from_hf_file(&path).map_err(|e| TrainError::Checkpoint {
        path,
        reason: e.to_string(),
    })
}

/// Compares the fields that fix the parameter layout and the forward pass.
fn compare_configs(dir: &Path, expected: &ModelConfig, found: &ModelConfig) -> Result<()> {
    let fields: [(&'static str, String, String); 10] = [
        (
            "model_type",
            format!("{:?}", expected.architecture),
            format!("{:?}", found.architecture),
        ),
        field(expected.vocab_size, found.vocab_size, "vocab_size"),
        field(expected.hidden_size, found.hidden_size, "n_embd"),
        field(expected.num_layers, found.num_layers, "n_layer"),
        field(expected.num_heads, found.num_heads, "n_head"),
        field(
            expected.max_position_embeddings,
            found.max_position_embeddings,
            "n_positions",
        ),
        field(
            expected.intermediate_size,
            found.intermediate_size,
            "n_inner",
        ),
        field(expected.norm_eps, found.norm_eps, "layer_norm_epsilon"),
        (
            "activation_function",
            activation_name(expected.activation).into(),
            activation_name(found.activation).into(),
        ),
        field(
            expected.tie_word_embeddings,
            found.tie_word_embeddings,
            "tie_word_embeddings",
        ),
    ];
    match fields.into_iter().find(|(_, e, f)| e != f) {
        None => Ok(()),
        Some((field, expected, found)) => Err(TrainError::ConfigMismatch {
            path: dir.to_owned(),
            field,
            expected,
            found,
        }),
    }
}

fn field<T: std::fmt::Display>(
    expected: T,
    found: T,
    key: &'static str,
) -> (&'static str, String, String) {
    (key, expected.to_string(), found.to_string())
}

/// Reads a file that may be absent; a present file goes through `read`.
fn optional<T>(path: &Path, read: impl FnOnce(&Path) -> Result<T>) -> Result<Option<T>> {
    if path.exists() {
        read(path).map(Some)
    } else {
        Ok(None)
    }
}

/// Reads a safetensors file whole and checks its header.
fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| TrainError::Checkpoint {
        path: path.to_owned(),
        reason: format!("cannot read: {e}"),
    })
}

fn parse_safetensors<'a>(path: &Path, bytes: &'a [u8]) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes).map_err(|e| TrainError::Checkpoint {
        path: path.to_owned(),
        reason: format!("corrupt or truncated safetensors: {e}"),
    })
}

/// The parameters of `layout` from `path`, each tensor named `prefix + name`.
fn read_params(path: &Path, layout: &ParamLayout, prefix: &str, tied: bool) -> Result<Vec<f32>> {
    let bytes = read_bytes(path)?;
    let st = parse_safetensors(path, &bytes)?;
    let mut params = vec![0.0f32; layout.len()];
    fill_from(path, &st, layout, prefix, &mut params)?;
    check_no_extra(path, &st, layout, &[prefix], tied)?;
    Ok(params)
}

/// Copies every tensor of `layout` (named `prefix + name`) into `out`.
fn fill_from(
    path: &Path,
    st: &SafeTensors<'_>,
    layout: &ParamLayout,
    prefix: &str,
    out: &mut [f32],
) -> Result<()> {
    for entry in layout.entries() {
        let name = format!("{prefix}{}", entry.name);
        let bad = |reason: String| TrainError::Checkpoint {
            path: path.to_owned(),
            reason: format!("tensor `{name}`: {reason}"),
        };
        let view = st.tensor(&name).map_err(|_| bad("missing".into()))?;
        if view.dtype() != Dtype::F32 {
            return Err(bad(format!("dtype {:?}, expected F32", view.dtype())));
        }
        if view.shape() != entry.shape.as_slice() {
            return Err(bad(format!(
                "shape {:?}, expected {:?}",
                view.shape(),
                entry.shape
            )));
        }
        let dst = &mut out[entry.range()];
        for (value, chunk) in dst.iter_mut().zip(view.data().chunks_exact(4)) {
            *value = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
    }
    Ok(())
}

/// Rejects tensors the layout does not have (a tied `lm_head.weight` excepted,
/// which some exporters write).
fn check_no_extra(
    path: &Path,
    st: &SafeTensors<'_>,
    layout: &ParamLayout,
    prefixes: &[&str],
    tied: bool,
) -> Result<()> {
    for name in st.names() {
        let known = prefixes.iter().any(|prefix| {
            name.strip_prefix(prefix).is_some_and(|bare| {
                layout.find(bare).is_some() || (tied && bare == "lm_head.weight")
            })
        });
        if !known {
            return Err(TrainError::Checkpoint {
                path: path.to_owned(),
                reason: format!("unexpected tensor `{name}` (not in this config's layout)"),
            });
        }
    }
    Ok(())
}

fn read_optimizer(path: &Path, layout: &ParamLayout) -> Result<AdamW> {
    let bytes = read_bytes(path)?;
    let st = parse_safetensors(path, &bytes)?;
    let mut m = vec![0.0f32; layout.len()];
    let mut v = vec![0.0f32; layout.len()];
    fill_from(path, &st, layout, M_PREFIX, &mut m)?;
    fill_from(path, &st, layout, V_PREFIX, &mut v)?;
    check_no_extra(path, &st, layout, &[M_PREFIX, V_PREFIX], false)?;
    let (_, metadata) = SafeTensors::read_metadata(&bytes).map_err(|e| TrainError::Checkpoint {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let meta = metadata.metadata().clone().unwrap_or_default();
    let get = |key: &str| -> Result<String> {
        meta.get(key)
            .cloned()
            .ok_or_else(|| TrainError::Checkpoint {
                path: path.to_owned(),
                reason: format!("metadata key `{key}` missing"),
            })
    };
    let number = |key: &str| -> Result<f32> { parse_meta(path, key, &get(key)?) };
    let mut opt = AdamW::new(layout.len(), number("lr")?)
        .with_betas(number("beta1")?, number("beta2")?)
        .with_eps(number("eps")?)
        .with_weight_decay(number("weight_decay")?);
    opt.restore(m, v, parse_meta(path, "step", &get("step")?)?)?;
    Ok(opt)
}

fn parse_meta<T: std::str::FromStr>(path: &Path, key: &str, text: &str) -> Result<T> {
    text.parse().map_err(|_| TrainError::Checkpoint {
        path: path.to_owned(),
        reason: format!("metadata `{key}` = `{text}` is not a valid number"),
    })
}

fn read_tokenizer(path: &Path, vocab_size: usize) -> Result<CharTokenizer> {
    let tokenizer = CharTokenizer::load(path)?;
    if tokenizer.vocab_size() > vocab_size {
        return Err(TrainError::Checkpoint {
            path: path.to_owned(),
            reason: format!(
                "{} characters do not fit the model's vocab_size {vocab_size}",
                tokenizer.vocab_size()
            ),
        });
    }
    Ok(tokenizer)
}

fn read_state(path: &Path) -> Result<TrainerState> {
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::Checkpoint {
        path: path.to_owned(),
        reason: format!("cannot read: {e}"),
    })?;
    let state: TrainerState = serde_json::from_str(&text).map_err(|e| TrainError::Checkpoint {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    if state.format_version != FORMAT_VERSION {
        return Err(TrainError::Checkpoint {
            path: path.to_owned(),
            reason: format!(
                "format_version {} is not supported (expected {FORMAT_VERSION})",
                state.format_version
            ),
        });
    }
    Ok(state)
}

fn io_error(path: &Path, source: std::io::Error) -> TrainError {
    TrainError::Io {
        path: path.to_owned(),
        source,
    }
}
