//! The HTTP side: the axum router, its handlers, Bearer authentication and the status count.
//!
//! A generation request is checked and encoded here (so every bad request is answered before
//! it takes a place in the queue), handed to the scheduler as a [`Job`] through the bounded
//! queue (full: 429), and answered from the job's events: collected into one JSON body, or
//! forwarded as SSE chunks ending in `data: [DONE]`. Dropping the events' receiver (the client
//! went away) is what tells the scheduler to free the slot.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use smallmind::{ChatMessage, SamplerConfig, TextModel};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::ServerConfig;
use crate::error::ApiError;
use crate::metrics::StatusLabel;
use crate::scheduler::{Event, Job, Outcome};
use crate::wire::{
    AssistantMessage, ChatChoice, ChatChunk, ChatCompletion, ChatRequest, ChunkChoice,
    CompletionRequest, Content, Delta, DetokenizeRequest, DetokenizeResponse, Health, Message,
    ModelCard, ModelList, Params, Prompt, PromptTokensDetails, Stop, TextChoice, TextCompletion,
    TokenizeRequest, TokenizeResponse, Usage,
};
use crate::{Loaded, Shared};

/// The router over `shared`.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/completions", post(completions))
        .route("/v1/models", get(models))
        .route("/health", get(health))
        .route("/tokenize", post(tokenize))
        .route("/detokenize", post(detokenize))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(shared.config.max_body_bytes))
        .layer(middleware::from_fn_with_state(shared.clone(), authorize))
        .layer(middleware::from_fn_with_state(shared.clone(), count_status))
        .with_state(shared)
}

/// A JSON body, or why it is not one (turned into an [`ApiError`]: 400, 413 or 415).
type JsonBody<T> = Result<Json<T>, JsonRejection>;

async fn chat_completions(
    State(shared): State<Arc<Shared>>,
    body: JsonBody<ChatRequest>,
) -> Result<Response, ApiError> {
    let Json(request) = body?;
    let loaded = shared.loaded()?;
    loaded.check_model(request.model.as_deref())?;
    let messages = chat_messages(&request.messages)?;
    let prompt = loaded
        .model
        .chat_tokens(&messages)
        .map_err(|e| ApiError::invalid(Some("messages"), e.to_string()))?;
    generate(&shared, loaded, Kind::Chat, prompt, &request.params).await
}

async fn completions(
    State(shared): State<Arc<Shared>>,
    body: JsonBody<CompletionRequest>,
) -> Result<Response, ApiError> {
    let Json(request) = body?;
    let loaded = shared.loaded()?;
    loaded.check_model(request.model.as_deref())?;
    let prompt = match request.prompt {
        Prompt::Text(text) => loaded.encode(&text)?,
        Prompt::Texts(texts) => match texts.as_slice() {
            [text] => loaded.encode(text)?,
            _ => {
                return Err(ApiError::invalid(
                    Some("prompt"),
                    format!("one prompt per request is supported, got {}", texts.len()),
                ));
            }
        },
        Prompt::Tokens(tokens) => tokens,
    };
    generate(&shared, loaded, Kind::Text, prompt, &request.params).await
}

/// Chat messages as the template takes them: text content only.
fn chat_messages(messages: &[Message]) -> Result<Vec<ChatMessage>, ApiError> {
    if messages.is_empty() {
        return Err(ApiError::invalid(
            Some("messages"),
            "`messages` is empty: a chat needs at least one message",
        ));
    }
    messages
        .iter()
        .map(|message| {
            let content = match &message.content {
                None => String::new(),
                Some(Content::Text(text)) => text.clone(),
                Some(Content::Parts(parts)) => {
                    let mut text = String::new();
                    for part in parts {
                        match (part.kind.as_str(), &part.text) {
                            ("text", Some(part)) => text.push_str(part),
                            (kind, _) => {
                                return Err(ApiError::invalid(
                                    Some("messages"),
                                    format!("content parts of type `{kind}` are not supported; only `text`"),
                                ));
                            }
                        }
                    }
                    text
                }
            };
            Ok(ChatMessage::new(message.role.clone(), content))
        })
        .collect()
}

/// Which endpoint's wire format a generation answers in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Chat,
    Text,
}

/// Checks the parameters, queues the job and answers from its events.
async fn generate(
    shared: &Shared,
    loaded: &Loaded,
    kind: Kind,
    prompt: Vec<u32>,
    params: &Params,
) -> Result<Response, ApiError> {
    let (events, receiver) = unbounded_channel();
    let job = loaded.job(prompt, params, &shared.config, events, kind)?;
    shared.metrics.queue_depth.inc();
    if let Err(error) = submit(&loaded.queue, job) {
        shared.metrics.queue_depth.dec();
        return Err(error.with_queue(shared.config.max_queue));
    }
    let reply = Reply::new(kind, loaded.model.name(), params);
    if params.stream {
        Ok(reply.stream(receiver))
    } else {
        reply.collect(receiver).await
    }
}

/// Why a job was not queued.
enum SubmitError {
    Full,
    Closed,
}

impl SubmitError {
    fn with_queue(self, max_queue: usize) -> ApiError {
        match self {
            SubmitError::Full => ApiError::overloaded(max_queue),
            SubmitError::Closed => ApiError::unavailable("the server is shutting down"),
        }
    }
}

fn submit(queue: &SyncSender<Job>, job: Job) -> Result<(), SubmitError> {
    queue.try_send(job).map_err(|e| match e {
        TrySendError::Full(_) => SubmitError::Full,
        TrySendError::Disconnected(_) => SubmitError::Closed,
    })
}

impl Loaded {
    fn check_model(&self, asked: Option<&str>) -> Result<(), ApiError> {
        match asked {
            Some(asked) if asked != self.model.name() => {
                Err(ApiError::unknown_model(asked, self.model.name()))
            }
            _ => Ok(()),
        }
    }

    fn encode(&self, text: &str) -> Result<Vec<u32>, ApiError> {
        self.model
            .encode(text)
            .map_err(|e| ApiError::invalid(Some("prompt"), e.to_string()))
    }

    /// The job of a request, or the error naming what is wrong with it.
    fn job(
        &self,
        prompt: Vec<u32>,
        params: &Params,
        config: &ServerConfig,
        events: tokio::sync::mpsc::UnboundedSender<Event>,
        kind: Kind,
    ) -> Result<Job, ApiError> {
        let prompt_param = match kind {
            Kind::Chat => "messages",
            Kind::Text => "prompt",
        };
        if let Some(n) = params.n.filter(|&n| n != 1) {
            return Err(ApiError::invalid(
                Some("n"),
                format!("only n = 1 is supported, got n = {n}"),
            ));
        }
        let requested = params.max_completion_tokens.or(params.max_tokens);
        if let Some(max) = requested.filter(|&max| max <= 0) {
            return Err(ApiError::invalid(
                Some("max_tokens"),
                format!("max_tokens must be at least 1, got {max}"),
            ));
        }
        if prompt.is_empty() {
            return Err(ApiError::invalid(
                Some(prompt_param),
                "the prompt is empty: it encodes to no tokens",
            ));
        }
        let vocab_size = self.model.model().config().vocab_size;
        if let Some(token) = prompt.iter().find(|&&t| t as usize >= vocab_size) {
            return Err(ApiError::invalid(
                Some(prompt_param),
                format!("token {token} is outside the vocabulary of {vocab_size}"),
            ));
        }
        if prompt.len() > self.context {
            return Err(ApiError::invalid(
                Some(prompt_param),
                format!(
                    "this model's maximum context length is {} tokens; the prompt is {} tokens",
                    self.context,
                    prompt.len()
                ),
            )
            .with_code("context_length_exceeded"));
        }
        let stop = match &params.stop {
            None => Vec::new(),
            Some(Stop::One(stop)) => vec![stop.clone()],
            Some(Stop::Many(stops)) => stops.clone(),
        };
        if stop.iter().any(String::is_empty) {
            return Err(ApiError::invalid(Some("stop"), "a stop string is empty"));
        }
        // The cache holds `context` positions; the last sampled token needs none.
        let room = self.context - prompt.len() + 1;
        let arrived = Instant::now();
        Ok(Job {
            max_tokens: requested.map_or(room, |max| (max as usize).min(room)),
            prompt,
            stop,
            sampling: sampling(params)?,
            arrived,
            deadline: arrived + config.timeout,
            events,
        })
    }
}

/// The sampler settings of `params`: OpenAI's defaults (temperature 1, no filters), a fresh
/// seed unless one is given.
fn sampling(params: &Params) -> Result<SamplerConfig, ApiError> {
    let defaults = SamplerConfig::default();
    let top_k = params.top_k.unwrap_or(0);
    if top_k < 0 {
        return Err(ApiError::invalid(
            Some("top_k"),
            format!("top_k must be >= 0 (0 disables it), got {top_k}"),
        ));
    }
    let config = SamplerConfig {
        temperature: params.temperature.unwrap_or(defaults.temperature),
        top_k: top_k as usize,
        top_p: params.top_p.unwrap_or(defaults.top_p),
        min_p: params.min_p.unwrap_or(defaults.min_p),
        repetition_penalty: params.repeat_penalty.unwrap_or(defaults.repetition_penalty),
        presence_penalty: params.presence_penalty.unwrap_or(0.0),
        frequency_penalty: params.frequency_penalty.unwrap_or(0.0),
        seed: params.seed.map_or_else(fresh_seed, |seed| seed as u64),
        ..defaults
    };
    config
        .validate()
        .map_err(|e| ApiError::invalid(None, e.to_string()))?;
    Ok(config)
}

/// A seed for a request that gave none: different per request.
fn fresh_seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// How a generation's answer is written: its id, time, model name and format.
struct Reply {
    kind: Kind,
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
}

impl Reply {
    fn new(kind: Kind, model: &str, params: &Params) -> Reply {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let prefix = match kind {
            Kind::Chat => "chatcmpl",
            Kind::Text => "cmpl",
        };
        Reply {
            kind,
            id: format!(
                "{prefix}-{created:x}{:06x}",
                NEXT_ID.fetch_add(1, Ordering::Relaxed)
            ),
            created,
            model: model.to_owned(),
            include_usage: params
                .stream_options
                .as_ref()
                .is_some_and(|options| options.include_usage),
        }
    }

    /// Waits for the whole text and answers with one JSON body.
    async fn collect(self, mut events: UnboundedReceiver<Event>) -> Result<Response, ApiError> {
        let mut text = String::new();
        while let Some(event) = events.recv().await {
            match event {
                Event::Text(piece) => text.push_str(&piece),
                Event::Failed(error) => return Err(error),
                Event::Done(outcome) => return Ok(self.whole(text, outcome)),
            }
        }
        Err(ApiError::internal("the scheduler dropped the request"))
    }

    fn whole(&self, text: String, outcome: Outcome) -> Response {
        let usage = usage(&outcome);
        match self.kind {
            Kind::Chat => Json(ChatCompletion {
                id: self.id.clone(),
                object: "chat.completion",
                created: self.created,
                model: self.model.clone(),
                choices: [ChatChoice {
                    index: 0,
                    message: AssistantMessage {
                        role: "assistant",
                        content: text,
                    },
                    finish_reason: outcome.finish_reason,
                    logprobs: None,
                }],
                usage,
            })
            .into_response(),
            Kind::Text => Json(TextCompletion {
                id: &self.id,
                object: "text_completion",
                created: self.created,
                model: &self.model,
                choices: vec![TextChoice {
                    index: 0,
                    text: &text,
                    finish_reason: Some(outcome.finish_reason),
                    logprobs: None,
                }],
                usage: Some(usage),
            })
            .into_response(),
        }
    }

    /// Answers with SSE: a chunk per piece (a chat opens with the assistant's role), a last
    /// chunk with the finish reason, the usage chunk if asked for, then `data: [DONE]`.
    fn stream(self, events: UnboundedReceiver<Event>) -> Response {
        let opening = match self.kind {
            Kind::Chat => Some(self.chunk(
                Delta {
                    role: Some("assistant"),
                    content: Some(""),
                },
                None,
            )),
            Kind::Text => None,
        };
        let events = UnboundedReceiverStream::new(events)
            .map(move |event| Ok::<_, Infallible>(self.event_text(event)));
        let body = tokio_stream::iter(opening.map(Ok)).chain(events);
        (
            [
                (header::CONTENT_TYPE, "text/event-stream"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            Body::from_stream(body),
        )
            .into_response()
    }

    /// The SSE text of one event.
    fn event_text(&self, event: Event) -> String {
        match event {
            Event::Text(piece) => self.chunk(
                Delta {
                    role: None,
                    content: Some(&piece),
                },
                None,
            ),
            Event::Done(outcome) => {
                let mut text = self.chunk(Delta::default(), Some(outcome.finish_reason));
                if self.include_usage {
                    text.push_str(&self.usage_chunk(usage(&outcome)));
                }
                text.push_str("data: [DONE]\n\n");
                text
            }
            Event::Failed(error) => format!("data: {}\n\ndata: [DONE]\n\n", error.body()),
        }
    }

    /// One `data:` line with a chunk carrying `delta` (its `content` as `text` for
    /// completions).
    fn chunk(&self, delta: Delta<'_>, finish_reason: Option<&'static str>) -> String {
        let json = match self.kind {
            Kind::Chat => serde_json::to_string(&ChatChunk {
                id: &self.id,
                object: "chat.completion.chunk",
                created: self.created,
                model: &self.model,
                choices: vec![ChunkChoice {
                    index: 0,
                    delta,
                    finish_reason,
                    logprobs: None,
                }],
                usage: None,
            }),
            Kind::Text => serde_json::to_string(&TextCompletion {
                id: &self.id,
                object: "text_completion",
                created: self.created,
                model: &self.model,
                choices: vec![TextChoice {
                    index: 0,
                    text: delta.content.unwrap_or(""),
                    finish_reason,
                    logprobs: None,
                }],
                usage: None,
            }),
        };
        format!("data: {}\n\n", json.unwrap_or_default())
    }

    /// The `include_usage` chunk: no choices, the usage.
    fn usage_chunk(&self, usage: Usage) -> String {
        let json = match self.kind {
            Kind::Chat => serde_json::to_string(&ChatChunk {
                id: &self.id,
                object: "chat.completion.chunk",
                created: self.created,
                model: &self.model,
                choices: Vec::new(),
                usage: Some(usage),
            }),
            Kind::Text => serde_json::to_string(&TextCompletion {
                id: &self.id,
                object: "text_completion",
                created: self.created,
                model: &self.model,
                choices: Vec::new(),
                usage: Some(usage),
            }),
        };
        format!("data: {}\n\n", json.unwrap_or_default())
    }
}

fn usage(outcome: &Outcome) -> Usage {
    Usage {
        prompt_tokens: outcome.prompt_tokens,
        completion_tokens: outcome.completion_tokens,
        total_tokens: outcome.prompt_tokens + outcome.completion_tokens,
        prompt_tokens_details: PromptTokensDetails {
            cached_tokens: outcome.cached_tokens,
        },
    }
}

async fn models(State(shared): State<Arc<Shared>>) -> Result<Json<ModelList>, ApiError> {
    let loaded = shared.loaded()?;
    Ok(Json(ModelList {
        object: "list",
        data: [ModelCard {
            id: loaded.model.name().to_owned(),
            object: "model",
            created: loaded.created,
            owned_by: "smallmind",
            context_length: loaded.context,
        }],
    }))
}

/// 200 once the model is loaded and while the server is not draining; 503 otherwise.
async fn health(State(shared): State<Arc<Shared>>) -> Result<Json<Health>, ApiError> {
    if shared.draining.load(Ordering::Acquire) {
        return Err(ApiError::unavailable("the server is shutting down"));
    }
    shared.loaded()?;
    Ok(Json(Health { status: "ok" }))
}

async fn tokenize(
    State(shared): State<Arc<Shared>>,
    body: JsonBody<TokenizeRequest>,
) -> Result<Json<TokenizeResponse>, ApiError> {
    let Json(request) = body?;
    let model = &shared.loaded()?.model;
    let codec = codec(model)?;
    let add_bos = request.add_special && model.defaults().add_bos;
    let tokens = codec
        .encode(&request.content, add_bos)
        .map_err(|e| ApiError::invalid(Some("content"), e.to_string()))?;
    Ok(Json(TokenizeResponse { tokens }))
}

async fn detokenize(
    State(shared): State<Arc<Shared>>,
    body: JsonBody<DetokenizeRequest>,
) -> Result<Json<DetokenizeResponse>, ApiError> {
    let Json(request) = body?;
    let content = codec(&shared.loaded()?.model)?
        .decode(&request.tokens)
        .map_err(|e| ApiError::invalid(Some("tokens"), e.to_string()))?;
    Ok(Json(DetokenizeResponse { content }))
}

fn codec(model: &TextModel) -> Result<&smallmind::Codec, ApiError> {
    model
        .codec()
        .ok_or_else(|| ApiError::invalid(None, format!("{} has no tokenizer", model.name())))
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.encode(),
    )
        .into_response()
}

async fn not_found(request: Request) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        ..ApiError::invalid(
            None,
            format!("no endpoint {} {}", request.method(), request.uri().path()),
        )
    }
}

/// With `--api-key`, every endpoint but `/health` needs `Authorization: Bearer KEY`.
async fn authorize(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    if let Some(key) = &shared.config.api_key
        && request.uri().path() != "/health"
        && let Err(error) = check_key(request.headers(), key)
    {
        return error.into_response();
    }
    next.run(request).await
}

fn check_key(headers: &HeaderMap, key: &str) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::unauthorized(
            "missing API key: send `Authorization: Bearer KEY`",
        ));
    };
    let given = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.as_bytes(), key.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::unauthorized("incorrect API key"))
    }
}

/// Compares without an early exit, so the time taken does not reveal the matching prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Counts every answer by status (`smallmind_requests_total`).
async fn count_status(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status().as_u16();
    shared
        .metrics
        .requests
        .get_or_create(&StatusLabel { status })
        .inc();
    response
}
