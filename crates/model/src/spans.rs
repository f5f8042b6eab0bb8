//! The `tracing` spans of the forward pass, created once per [`crate::Session`] and entered on
//! the hot path. Names are `category.part`; `smallmind-telemetry` groups the hot-path table by
//! the part before the dot (attention, mlp, norm, lm_head, …).
//!
//! Per-op spans are at TRACE level and the per-call ones at DEBUG, so an application logging
//! at INFO gets disabled spans: entering one is a branch, nothing more.

use tracing::{Span, debug_span, trace_span};

/// One span per step of [`crate::forward`]; see the module docs.
#[derive(Clone, Debug)]
pub(crate) struct ForwardSpans {
    /// A prompt chunk through [`crate::Session::prefill`].
    pub(crate) prefill: Span,
    /// One token through [`crate::Session::decode`].
    pub(crate) decode: Span,
    pub(crate) embed: Span,
    pub(crate) attention_norm: Span,
    /// The q, k, v projections (fused or split).
    pub(crate) qkv: Span,
    pub(crate) rope: Span,
    /// The per-head RMSNorm of q and k (QK-norm).
    pub(crate) qk_norm: Span,
    /// Writing k, v to the cache, then softmax(q·kᵀ)·v.
    pub(crate) attention: Span,
    /// The output projection with the residual add.
    pub(crate) attention_out: Span,
    pub(crate) mlp_norm: Span,
    /// The whole MLP with the residual add.
    pub(crate) mlp: Span,
    pub(crate) final_norm: Span,
    pub(crate) lm_head: Span,
}

impl ForwardSpans {
    pub(crate) fn new() -> ForwardSpans {
        ForwardSpans {
            prefill: debug_span!("prefill"),
            decode: debug_span!("decode"),
            embed: trace_span!("embed"),
            attention_norm: trace_span!("norm.attention"),
            qkv: trace_span!("attention.qkv"),
            rope: trace_span!("attention.rope"),
            qk_norm: trace_span!("norm.qk"),
            attention: trace_span!("attention.core"),
            attention_out: trace_span!("attention.out"),
            mlp_norm: trace_span!("norm.mlp"),
            mlp: trace_span!("mlp"),
            final_norm: trace_span!("norm.final"),
            lm_head: trace_span!("lm_head"),
        }
    }
}
