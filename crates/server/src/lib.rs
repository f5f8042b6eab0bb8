//! # smallmind-server — an OpenAI-compatible HTTP server over one model
//!
//! The layer above the facade (`smallmind`): it owns HTTP, queueing and scheduling, and
//! nothing about models, kernels or tokenizers (it calls `smallmind::load`, `Session`,
//! `Sampler` and `TextStream`). The `smallmind serve` subcommand only parses flags into a
//! [`ServerConfig`] and calls [`run`].
//!
//! - **Endpoints** (OpenAI's wire format; every body is a serde type in `wire.rs`):
//!   `POST /v1/chat/completions` and `POST /v1/completions` (JSON or SSE with `stream`,
//!   ending in `data: [DONE]`; `stream_options.include_usage`), `GET /v1/models`,
//!   `GET /health` (503 until the model is loaded and while shutting down, then 200),
//!   llama.cpp's `POST /tokenize` and `POST /detokenize`, and `GET /metrics` (Prometheus).
//! - **Scheduling** (`scheduler.rs`): one thread owns the model and `slots` sessions sharing
//!   one worker team; each step admits queued requests into free slots (longest cached prefix,
//!   then least recently used), feeds every busy slot (a prompt chunk or one token), and
//!   streams the sampled text. The queue is bounded: a full queue answers 429 with
//!   `Retry-After`.
//! - **Robustness:** bad requests get OpenAI's error object and the server carries on; a client
//!   that disconnects frees its slot within a step; every request has a deadline; shutdown
//!   (the future given to [`serve`], SIGTERM or Ctrl-C for [`run`]) stops accepting, cancels
//!   what is in flight and returns.
//!
//! `docs/serving.md` documents the flags, endpoints and metrics for operators.

mod error;
mod http;
mod metrics;
mod scheduler;
mod wire;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use smallmind::{ChatTemplate, TextModel};
use tokio::net::TcpListener;

pub use error::ServerError;

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::scheduler::{Job, Scheduler, SchedulerConfig};

/// Everything the server is configured with (the `smallmind serve` flags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// What `smallmind::load` takes: a GGUF file, a Hugging Face directory, a checkpoint.
    pub model: String,
    /// A built-in chat format by name (`chatml`, `llama3`, ...) over the model's own template.
    pub chat_template: Option<String>,
    /// Sequences served at once, each with its own KV cache.
    pub slots: usize,
    /// KV-cache positions per slot; `None`: the model's context, at most
    /// [`DEFAULT_MAX_CONTEXT`].
    pub context: Option<usize>,
    /// Worker threads of the model; `None`: the physical cores.
    pub threads: Option<usize>,
    /// When set, every endpoint but `/health` requires `Authorization: Bearer KEY`.
    pub api_key: Option<String>,
    /// Requests that may wait for a slot; one more gets 429.
    pub max_queue: usize,
    /// A request's deadline, from its arrival (queueing included).
    pub timeout: Duration,
    /// The largest request body accepted (larger: 413).
    pub max_body_bytes: usize,
}

/// The default per-slot context cap: a model's full context (8k–128k) times the slots would
/// reserve gigabytes of KV cache.
pub const DEFAULT_MAX_CONTEXT: usize = 2048;

impl ServerConfig {
    /// The defaults for `model`: 4 slots, a 64-request queue, 10 minutes per request, 2 MiB
    /// bodies.
    pub fn new(model: impl Into<String>) -> ServerConfig {
        ServerConfig {
            model: model.into(),
            chat_template: None,
            slots: 4,
            context: None,
            threads: None,
            api_key: None,
            max_queue: 64,
            timeout: Duration::from_secs(600),
            max_body_bytes: 2 << 20,
        }
    }

    fn validate(&self) -> Result<(), ServerError> {
        let invalid = |name, reason: &str| {
            Err(ServerError::InvalidSetting {
                name,
                reason: reason.into(),
            })
        };
        if self.slots == 0 {
            return invalid("slots", "must be at least 1");
        }
        if self.max_queue == 0 {
            return invalid("max-queue", "must be at least 1");
        }
        if self.context == Some(0) {
            return invalid("ctx", "must be at least 1");
        }
        if self.threads == Some(0) {
            return invalid("threads", "must be at least 1");
        }
        if self.timeout.is_zero() {
            return invalid("timeout", "must be more than 0 seconds");
        }
        Ok(())
    }
}

/// What the HTTP handlers share.
struct Shared {
    config: ServerConfig,
    /// Set once the scheduler has loaded the model and planned its slots.
    loaded: OnceLock<Loaded>,
    metrics: Arc<Metrics>,
    /// Set on shutdown: `/health` answers 503 and the scheduler cancels what is in flight.
    draining: Arc<AtomicBool>,
}

/// The served model and the way to its scheduler.
struct Loaded {
    model: TextModel,
    queue: SyncSender<Job>,
    /// KV positions per slot.
    context: usize,
    /// When it was loaded (Unix seconds), `/v1/models`' `created`.
    created: u64,
}

impl Shared {
    fn loaded(&self) -> Result<&Loaded, ApiError> {
        self.loaded
            .get()
            .ok_or_else(|| ApiError::unavailable("the model is loading"))
    }
}

/// Serves on `listener` until `shutdown` resolves, loading the model in the background
/// (`/health` answers 503 until it is ready).
///
/// # Errors
/// A setting out of range, a model that does not load (the server stops then), or an I/O
/// error of the listener.
pub async fn serve(
    config: ServerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    config.validate()?;
    let shared = Arc::new(Shared {
        config,
        loaded: OnceLock::new(),
        metrics: Arc::new(Metrics::new()),
        draining: Arc::new(AtomicBool::new(false)),
    });
    let (ended, scheduler_ended) = tokio::sync::oneshot::channel::<()>();
    let scheduler = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("smallmind-scheduler".into())
            .spawn(move || {
                let result = load_and_schedule(&shared);
                // Whatever the reason the scheduler ended, the server stops with it.
                shared.draining.store(true, Ordering::Release);
                drop(ended);
                result
            })?
    };
    let draining = shared.draining.clone();
    let stop = async move {
        tokio::select! {
            () = shutdown => {}
            _ = scheduler_ended => {}
        }
        draining.store(true, Ordering::Release);
    };
    let served = axum::serve(listener, http::router(shared))
        .with_graceful_shutdown(stop)
        .await;
    let scheduled = tokio::task::spawn_blocking(move || scheduler.join())
        .await
        .map_err(|_| ServerError::SchedulerPanicked)?
        .map_err(|_| ServerError::SchedulerPanicked)?;
    scheduled?;
    Ok(served?)
}

/// The scheduler thread: loads the model, plans the slots, publishes them to the handlers and
/// runs until the server drains.
fn load_and_schedule(shared: &Shared) -> Result<(), ServerError> {
    let config = &shared.config;
    let mut model = smallmind::load(&config.model)?;
    if let Some(name) = &config.chat_template {
        model =
            model.with_chat_template(ChatTemplate::named(name).map_err(smallmind::Error::from)?);
    }
    let model_context = model.model().config().max_position_embeddings;
    let context = match config.context {
        Some(context) if context > model_context => {
            return Err(ServerError::InvalidSetting {
                name: "ctx",
                reason: format!("{context} exceeds the model's context of {model_context}"),
            });
        }
        Some(context) => context,
        None => model_context.min(DEFAULT_MAX_CONTEXT),
    };
    let (queue, jobs) = sync_channel(config.max_queue);
    let scheduler = Scheduler::new(
        &model,
        &SchedulerConfig {
            slots: config.slots,
            context,
            threads: config.threads,
            timeout: config.timeout,
        },
        jobs,
        shared.draining.clone(),
        shared.metrics.clone(),
    )?;
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let _ = shared.loaded.set(Loaded {
        model: model.clone(),
        queue,
        context,
        created,
    });
    scheduler.run();
    Ok(())
}

/// Binds `host:port`, calls `on_listening` with the bound address, and serves until SIGTERM
/// or Ctrl-C, on a runtime of its own (what `smallmind serve` runs).
///
/// # Errors
/// Those of [`serve`], and a failure to bind or to start the runtime.
pub fn run(
    config: ServerConfig,
    host: &str,
    port: u16,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<(), ServerError> {
    // The HTTP side only parses, encodes and forwards; the model has its own threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind((host, port)).await?;
        on_listening(listener.local_addr()?);
        serve(config, listener, shutdown_signal()).await
    })
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
