//! Learning-rate schedules: constant, cosine decay to a minimum, or step
//! decay, each after an optional linear warmup.
//!
//! Steps are counted from 0 (the first optimizer step is step 0). With
//! `warmup` steps of warmup and base rate `lr`:
//!
//! - warmup, `step < warmup`: `lr · (step + 1) / warmup` (llm.c's form: the
//!   first step already moves, the last warmup step reaches `lr`);
//! - then, with `s = step − warmup`:
//!   - [`Decay::Constant`] gives `lr`;
//!   - [`Decay::Cosine`] gives `min + (lr − min) · (1 + cos(π · s / (total − warmup))) / 2`
//!     for `step < total`, then `min` (SGDR, Loshchilov & Hutter 2017,
//!     without restarts);
//!   - [`Decay::Step`] gives `lr · gamma^⌊s / every⌋` (torch's `StepLR`).
//!
//! [`LrSchedule::parse`] reads the CLI form: `constant`, `cosine`,
//! `cosine:MIN_LR`, `step:EVERY:GAMMA` (warmup, base rate and total steps are
//! separate options). `Display` writes the same form back.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// The minimum of a `cosine` schedule without an explicit one, as a
/// fraction of the base rate (llm.c and nanoGPT use 1/10).
pub const DEFAULT_COSINE_MIN_FRACTION: f32 = 0.1;

/// What happens after the warmup.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decay {
    /// The base rate, unchanged.
    Constant,
    /// Half a cosine from the base rate down to `min_lr`, reached at
    /// `total_steps` and kept after.
    Cosine {
        /// The final rate.
        min_lr: f32,
        /// The step at which `min_lr` is reached (warmup included).
        total_steps: u64,
    },
    /// Multiply by `gamma` every `every` steps.
    Step {
        /// Steps between two decays.
        every: u64,
        /// The factor applied at each decay.
        gamma: f32,
    },
}

/// A learning-rate schedule: base rate, linear warmup, then a [`Decay`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    /// The rate at the end of the warmup.
    pub base_lr: f32,
    /// Steps of linear warmup (0: none).
    pub warmup_steps: u64,
    /// The shape after the warmup.
    pub decay: Decay,
}

impl LrSchedule {
    /// A constant rate, no warmup.
    pub fn constant(base_lr: f32) -> Self {
        LrSchedule {
            base_lr,
            warmup_steps: 0,
            decay: Decay::Constant,
        }
    }

    /// Cosine decay from `base_lr` to `min_lr` at `total_steps`, no warmup.
    pub fn cosine(base_lr: f32, min_lr: f32, total_steps: u64) -> Self {
        LrSchedule {
            base_lr,
            warmup_steps: 0,
            decay: Decay::Cosine {
                min_lr,
                total_steps,
            },
        }
    }

    /// Step decay: `base_lr · gamma^⌊step / every⌋`, no warmup.
    pub fn step_decay(base_lr: f32, every: u64, gamma: f32) -> Self {
        LrSchedule {
            base_lr,
            warmup_steps: 0,
            decay: Decay::Step { every, gamma },
        }
    }

    /// The same schedule with `warmup_steps` of linear warmup.
    pub fn with_warmup(mut self, warmup_steps: u64) -> Self {
        self.warmup_steps = warmup_steps;
        self
    }

    /// Parses the CLI form (`constant`, `cosine`, `cosine:MIN_LR`,
    /// `step:EVERY:GAMMA`, case-insensitive) with the base rate, the warmup
    /// and the total steps (the cosine's end) given separately. A bare
    /// `cosine` ends at `base_lr` × [`DEFAULT_COSINE_MIN_FRACTION`].
    ///
    /// # Errors
    /// [`TrainError::InvalidSetting`] (`lr-schedule`) naming the bad part,
    /// and the errors of [`LrSchedule::validate`].
    pub fn parse(spec: &str, base_lr: f32, warmup_steps: u64, total_steps: u64) -> Result<Self> {
        let lower = spec.trim().to_ascii_lowercase();
        let mut parts = lower.split(':');
        let kind = parts.next().unwrap_or_default();
        let args: Vec<&str> = parts.collect();
        let decay = match (kind, args.as_slice()) {
            ("constant", []) => Decay::Constant,
            ("cosine", []) => Decay::Cosine {
                min_lr: base_lr * DEFAULT_COSINE_MIN_FRACTION,
                total_steps,
            },
            ("cosine", [min]) => Decay::Cosine {
                min_lr: parse_number(spec, "MIN_LR", min)?,
                total_steps,
            },
            ("step", [every, gamma]) => Decay::Step {
                every: parse_number(spec, "EVERY", every)?,
                gamma: parse_number(spec, "GAMMA", gamma)?,
            },
            _ => {
                return Err(setting(format!(
                    "`{spec}` is not a schedule (expected constant, cosine, cosine:MIN_LR \
                     or step:EVERY:GAMMA)"
                )));
            }
        };
        let schedule = LrSchedule {
            base_lr,
            warmup_steps,
            decay,
        };
        schedule.validate()?;
        Ok(schedule)
    }

    /// Checks the settings: a finite base rate > 0; a cosine minimum in
    /// `[0, base_lr]` and an end after the warmup; a step decay every ≥ 1
    /// step by a finite `gamma > 0`.
    ///
    /// # Errors
    /// [`TrainError::InvalidSetting`] naming the first bad value.
    pub fn validate(&self) -> Result<()> {
        if !(self.base_lr.is_finite() && self.base_lr > 0.0) {
            return Err(setting(format!(
                "the learning rate must be finite and > 0, got {}",
                self.base_lr
            )));
        }
        match self.decay {
            Decay::Constant => Ok(()),
            Decay::Cosine {
                min_lr,
                total_steps,
            } => {
                if !(min_lr.is_finite() && (0.0..=self.base_lr).contains(&min_lr)) {
                    return Err(setting(format!(
                        "the cosine minimum {min_lr} must lie in [0, {}] (the base rate)",
                        self.base_lr
                    )));
                }
                if total_steps <= self.warmup_steps {
                    return Err(setting(format!(
                        "the cosine must end after the warmup: {total_steps} total steps, \
                         {} warmup steps",
                        self.warmup_steps
                    )));
                }
                Ok(())
            }
            Decay::Step { every, gamma } => {
                if every == 0 {
                    return Err(setting("step decay needs EVERY ≥ 1".into()));
                }
                if !(gamma.is_finite() && gamma > 0.0) {
                    return Err(setting(format!(
                        "step decay needs a finite GAMMA > 0, got {gamma}"
                    )));
                }
                Ok(())
            }
        }
    }

    /// The learning rate of optimizer step `step` (0-based).
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    pub fn lr_at(&self, step: u64) -> f32 {
        let base = f64::from(self.base_lr);
        if step < self.warmup_steps {
            return (base * (step + 1) as f64 / self.warmup_steps as f64) as f32;
        }
        let since = step - self.warmup_steps;
        match self.decay {
            Decay::Constant => self.base_lr,
            Decay::Cosine {
                min_lr,
                total_steps,
            } => {
                let span = total_steps.saturating_sub(self.warmup_steps);
                if since >= span {
                    return min_lr;
                }
                let progress = since as f64 / span as f64;
                let min = f64::from(min_lr);
                let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
                (min + (base - min) * cosine) as f32
            }
            Decay::Step { every, gamma } => {
                let decays = since / every.max(1);
                let exponent = i32::try_from(decays).unwrap_or(i32::MAX);
                (base * f64::from(gamma).powi(exponent)) as f32
            }
        }
    }
}

impl fmt::Display for LrSchedule {
    /// The CLI form of the decay (the base rate and warmup are separate).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.decay {
            Decay::Constant => write!(f, "constant"),
            Decay::Cosine { min_lr, .. } => write!(f, "cosine:{min_lr}"),
            Decay::Step { every, gamma } => write!(f, "step:{every}:{gamma}"),
        }
    }
}

fn parse_number<T: std::str::FromStr>(spec: &str, what: &str, text: &str) -> Result<T> {
    text.trim()
        .parse()
        .map_err(|_| setting(format!("`{text}` in `{spec}` is not a valid {what}")))
}

fn setting(reason: String) -> TrainError {
    TrainError::InvalidSetting {
        name: "lr-schedule".into(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tolerance on schedule values computed in f64 and rounded to f32.
    const LR_REL_TOL: f32 = 1e-6;

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() <= LR_REL_TOL * b.abs().max(1e-12)
    }

    #[test]
    fn constant_is_constant() {
        let s = LrSchedule::constant(3e-4);
        assert_eq!(s.lr_at(0), 3e-4);
        assert_eq!(s.lr_at(u64::MAX), 3e-4);
    }

    #[test]
    fn warmup_boundaries() {
        let s = LrSchedule::constant(1e-3).with_warmup(10);
        assert!(close(s.lr_at(0), 1e-4));
        assert!(close(s.lr_at(4), 5e-4));
        assert!(close(s.lr_at(9), 1e-3));
        assert_eq!(s.lr_at(10), 1e-3);
    }

    #[test]
    fn cosine_boundaries() {
        let s = LrSchedule::cosine(1e-3, 1e-4, 110).with_warmup(10);
        assert!(close(s.lr_at(9), 1e-3));
        assert_eq!(s.lr_at(10), 1e-3);
        assert!(close(s.lr_at(60), 5.5e-4), "{}", s.lr_at(60));
        assert!(s.lr_at(109) > 1e-4 && s.lr_at(109) < 1.01e-4);
        assert_eq!(s.lr_at(110), 1e-4);
        assert_eq!(s.lr_at(1_000_000), 1e-4);
        for step in 10..110 {
            assert!(s.lr_at(step + 1) <= s.lr_at(step), "not monotone at {step}");
        }
    }

    #[test]
    fn step_decay_boundaries() {
        let s = LrSchedule::step_decay(1.0, 100, 0.5).with_warmup(5);
        assert_eq!(s.lr_at(5), 1.0);
        assert_eq!(s.lr_at(104), 1.0);
        assert_eq!(s.lr_at(105), 0.5);
        assert_eq!(s.lr_at(305), 0.125);
    }

    #[test]
    fn parse_round_trips_through_display() {
        for spec in ["constant", "cosine:0.0001", "step:100:0.5"] {
            let s = LrSchedule::parse(spec, 1e-3, 10, 1000).unwrap();
            assert_eq!(s.to_string(), spec);
        }
        let bare = LrSchedule::parse("Cosine", 1e-3, 0, 100).unwrap();
        assert!(close(bare.lr_at(100), 1e-4));
    }

    #[test]
    fn parse_rejects_bad_specs() {
        for spec in [
            "linear",
            "cosine:abc",
            "cosine:0.1",
            "step:0:0.5",
            "step:10",
            "step:10:-1",
            "",
        ] {
            let err = LrSchedule::parse(spec, 1e-3, 0, 100).unwrap_err();
            assert!(err.to_string().contains("lr-schedule"), "{spec}: {err}");
        }
        assert!(LrSchedule::parse("cosine", 1e-3, 100, 100).is_err());
        assert!(LrSchedule::parse("constant", f32::NAN, 0, 100).is_err());
    }
}
