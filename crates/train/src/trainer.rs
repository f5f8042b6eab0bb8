//! The training loop: draw a batch, forward and backward (accumulating
//! micro-batches), clip the global gradient norm, step AdamW at the
//! schedule's rate; evaluate the held-out split on demand; save and resume
//! through [`Checkpoint`]s.
//!
//! Everything a step touches is planned in [`Trainer::new`]: the model's
//! activations ([`Gpt2Trainer`]), the gradient buffer, the optimizer's
//! moments and one [`Batch`]; [`Trainer::step`] allocates nothing.

use smallmind_model::ModelConfig;

use crate::checkpoint::{Checkpoint, CheckpointView, FORMAT_VERSION, TrainerState};
use crate::data::{Batch, BatchSampler, TextDataset};
use crate::error::{Result, TrainError};
use crate::gpt2::Gpt2Trainer;
use crate::optim::{AdamW, clip_grad_norm, grad_norm};
use crate::params::ParamLayout;
use crate::schedule::LrSchedule;

/// How to train: the settings a run keeps from start to finish (saved in
/// every checkpoint's [`TrainerState`]).
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSettings {
    /// Rows per micro-batch `B`.
    pub batch_size: usize,
    /// Tokens per row `T` (at most the model's context).
    pub context: usize,
    /// Micro-batches accumulated per optimizer step.
    pub grad_accum: usize,
    /// Clip the global gradient L2 norm to this (none: no clipping).
    pub grad_clip: Option<f32>,
    /// The learning-rate schedule.
    pub schedule: LrSchedule,
    /// Decoupled weight decay of AdamW.
    pub weight_decay: f32,
    /// Seed of the initial weights and of the batch stream.
    pub seed: u64,
    /// Held-out fraction of the token stream (recorded; the dataset applies it).
    pub val_fraction: f32,
    /// Validation batches evaluated by [`Trainer::validate`] at most.
    pub val_batches: usize,
}

impl TrainSettings {
    /// Checks the settings no other part validates: accumulation ≥ 1, a
    /// finite clipping threshold > 0, a finite weight decay ≥ 0, and the
    /// schedule.
    ///
    /// # Errors
    /// [`TrainError::InvalidSetting`] naming the setting as the CLI spells it.
    pub fn validate(&self) -> Result<()> {
        let invalid = |name: &str, reason: String| {
            Err(TrainError::InvalidSetting {
                name: name.into(),
                reason,
            })
        };
        if self.grad_accum == 0 {
            return invalid("grad-accum", "must be at least 1".into());
        }
        if let Some(clip) = self.grad_clip
            && !(clip.is_finite() && clip > 0.0)
        {
            return invalid("grad-clip", format!("must be finite and > 0, got {clip}"));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return invalid(
                "weight-decay",
                format!("must be finite and ≥ 0, got {}", self.weight_decay),
            );
        }
        self.schedule.validate()
    }
}

/// What one optimizer step did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    /// Steps completed, this one included.
    pub step: u64,
    /// Mean training loss over the step's micro-batches.
    pub loss: f32,
    /// The learning rate applied.
    pub lr: f32,
    /// The global gradient L2 norm before clipping.
    pub grad_norm: f32,
    /// Tokens the step trained on (`B·T·accumulation`).
    pub tokens: usize,
}

/// A training run in progress: model, weights, optimizer, data position.
pub struct Trainer {
    config: ModelConfig,
    settings: TrainSettings,
    model: Gpt2Trainer,
    params: Vec<f32>,
    grads: Vec<f32>,
    optimizer: AdamW,
    sampler: BatchSampler,
    batch: Batch,
    val: Vec<Batch>,
    state: TrainerState,
}

/// Fresh GPT-2 weights in [`ParamLayout::gpt2`] order: matrices and
/// embeddings `N(0, 0.02²)` from `ChaCha8Rng::seed_from_u64(seed)`, norm gains 1, biases 0.
///
/// # Errors
/// As [`ParamLayout::gpt2`].
pub fn init_params(config: &ModelConfig, seed: u64) -> Result<Vec<f32>> {
    let tensors = smallmind_model::preset::gpt2_random_tensors(config, seed)?;
    let layout = ParamLayout::gpt2(config)?;
    let mut params = Vec::with_capacity(layout.len());
    for tensor in &tensors {
        params.extend_from_slice(&tensor.data);
    }
    if params.len() != layout.len() {
        return Err(TrainError::ShapeMismatch {
            what: "initial parameters".into(),
            expected: layout.len(),
            actual: params.len(),
        });
    }
    Ok(params)
}

impl Trainer {
    /// A new run from `params` (e.g. [`init_params`]) on `data`.
    ///
    /// # Errors
    /// [`TrainError::InvalidSetting`] for zero sizes or a context longer
    /// than the model's, [`TrainError::Data`] if a split is shorter than
    /// the context, and the model's and optimizer's own errors.
    pub fn new(
        config: &ModelConfig,
        params: Vec<f32>,
        data: &TextDataset,
        settings: TrainSettings,
    ) -> Result<Self> {
        let state = TrainerState {
            format_version: FORMAT_VERSION,
            step: 0,
            seed: settings.seed,
            schedule: settings.schedule,
            sampler: BatchSampler::new(settings.seed).state(),
            batch_size: settings.batch_size,
            context: settings.context,
            grad_accum: settings.grad_accum,
            grad_clip: settings.grad_clip,
            val_fraction: settings.val_fraction,
            tokens_seen: 0,
            last_train_loss: None,
            last_val_loss: None,
            best_val_loss: None,
            data_source: data.source().display().to_string(),
        };
        let optimizer = AdamW::new(params.len(), settings.schedule.base_lr)
            .with_weight_decay(settings.weight_decay);
        Self::assemble(config, params, optimizer, data, settings, state)
    }

    /// Continues the run saved in `checkpoint` on `data` (which must use
    /// the checkpoint's vocabulary: [`TextDataset::load_with_tokenizer`]).
    ///
    /// # Errors
    /// [`TrainError::Checkpoint`] if the checkpoint lacks the optimizer or
    /// trainer state, plus the errors of [`Trainer::new`].
    pub fn resume(checkpoint: Checkpoint, data: &TextDataset, val_batches: usize) -> Result<Self> {
        let missing = |what: &str| TrainError::InvalidSetting {
            name: "resume".into(),
            reason: format!("the checkpoint has no {what}; it cannot be resumed"),
        };
        let state = checkpoint.state.ok_or_else(|| missing("trainer state"))?;
        let optimizer = checkpoint
            .optimizer
            .ok_or_else(|| missing("optimizer state"))?;
        let settings = TrainSettings {
            batch_size: state.batch_size,
            context: state.context,
            grad_accum: state.grad_accum,
            grad_clip: state.grad_clip,
            schedule: state.schedule,
            weight_decay: optimizer.weight_decay,
            seed: state.seed,
            val_fraction: state.val_fraction,
            val_batches,
        };
        Self::assemble(
            &checkpoint.config,
            checkpoint.params,
            optimizer,
            data,
            settings,
            state,
        )
    }

    fn assemble(
        config: &ModelConfig,
        params: Vec<f32>,
        optimizer: AdamW,
        data: &TextDataset,
        settings: TrainSettings,
        state: TrainerState,
    ) -> Result<Self> {
        settings.validate()?;
        if config.vocab_size != data.tokenizer().vocab_size() {
            return Err(TrainError::InvalidSetting {
                name: "vocab".into(),
                reason: format!(
                    "the model has {} tokens but the data's vocabulary has {}",
                    config.vocab_size,
                    data.tokenizer().vocab_size()
                ),
            });
        }
        data.check_context(settings.context)?;
        let model = Gpt2Trainer::new(config, settings.batch_size, settings.context)?;
        if params.len() != model.layout().len() {
            return Err(TrainError::ShapeMismatch {
                what: "parameters".into(),
                expected: model.layout().len(),
                actual: params.len(),
            });
        }
        let sampler = BatchSampler::from_state(&state.sampler)?;
        let val = data.val_batches(settings.batch_size, settings.context, settings.val_batches)?;
        Ok(Trainer {
            config: config.clone(),
            grads: vec![0.0; params.len()],
            batch: Batch::new(settings.batch_size, settings.context),
            model,
            params,
            optimizer,
            sampler,
            val,
            settings,
            state,
        })
    }

    /// One optimizer step: `grad_accum` micro-batches forward and backward,
    /// clipping, AdamW at the schedule's rate for this step.
    ///
    /// # Errors
    /// The model's, data's and optimizer's errors (none in a valid run).
    pub fn step(&mut self, data: &TextDataset) -> Result<StepStats> {
        self.grads.fill(0.0);
        let micro = self.settings.grad_accum;
        let scale = 1.0 / micro as f32;
        let mut loss = 0.0;
        for _ in 0..micro {
            data.next_train_batch(&mut self.sampler, &mut self.batch)?;
            loss += self
                .model
                .forward(&self.params, &self.batch.inputs, &self.batch.targets)?;
            self.model.backward(&self.params, &mut self.grads, scale)?;
        }
        let grad_norm = match self.settings.grad_clip {
            Some(max_norm) => clip_grad_norm(&mut self.grads, max_norm),
            None => grad_norm(&self.grads) as f32,
        };
        let lr = self.settings.schedule.lr_at(self.state.step);
        self.optimizer.step(&mut self.params, &self.grads, lr)?;
        let tokens = self.batch.inputs.len() * micro;
        self.state.step += 1;
        self.state.tokens_seen += tokens as u64;
        let loss = loss * scale;
        self.state.last_train_loss = Some(loss);
        Ok(StepStats {
            step: self.state.step,
            loss,
            lr,
            grad_norm,
            tokens,
        })
    }

    /// The mean loss over the validation batches (`None` without a
    /// validation split); records it in the trainer state.
    ///
    /// # Errors
    /// The model's errors (none in a valid run).
    pub fn validate(&mut self) -> Result<Option<f32>> {
        if self.val.is_empty() {
            return Ok(None);
        }
        let mut total = 0.0;
        for batch in &self.val {
            total += self
                .model
                .evaluate(&self.params, &batch.inputs, &batch.targets)?;
        }
        let loss = total / self.val.len() as f32;
        self.state.last_val_loss = Some(loss);
        self.state.best_val_loss = Some(self.state.best_val_loss.map_or(loss, |b| b.min(loss)));
        Ok(Some(loss))
    }

    /// Saves the run into `dir` atomically (weights, config, vocabulary,
    /// optimizer, trainer state), so [`Trainer::resume`] continues it exactly.
    ///
    /// # Errors
    /// As [`Checkpoint::save`].
    pub fn save(&mut self, dir: impl AsRef<std::path::Path>, data: &TextDataset) -> Result<()> {
        self.state.sampler = self.sampler.state();
        Checkpoint::save(
            dir,
            &CheckpointView {
                config: &self.config,
                params: &self.params,
                optimizer: Some(&self.optimizer),
                tokenizer: Some(data.tokenizer()),
                state: Some(&self.state),
            },
        )
    }

    /// Steps completed.
    pub fn step_count(&self) -> u64 {
        self.state.step
    }

    /// The model config.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The current weights, in [`ParamLayout::gpt2`] order.
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    /// The run's settings.
    pub fn settings(&self) -> &TrainSettings {
        &self.settings
    }

    /// The state a checkpoint would record now.
    pub fn state(&self) -> &TrainerState {
        &self.state
    }
}
