//! The server end to end over loopback HTTP: every endpoint, streaming against non-streaming,
//! stop strings, prefix reuse, every bad request, backpressure, timeouts and shutdown, on the
//! tiny fixture GGUF (2 layers, 128 tokens, 256 positions) with ChatML.
//!
//! Each test starts its own server on an ephemeral port. Nothing asserts on wall-clock time:
//! where a test waits (readiness), it polls a state and fails after a generous count.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use smallmind_server::{ServerConfig, ServerError, serve};
use smallmind_testkit::fixture;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const TINY: &str = "tiny-llama-gguf/tiny-llama-Q8_0.gguf";
const MODEL_NAME: &str = "tiny-llama-Q8_0.gguf";

struct TestServer {
    base: String,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServerError>>,
}

fn config() -> ServerConfig {
    ServerConfig {
        chat_template: Some("chatml".into()),
        slots: 2,
        threads: Some(1),
        ..ServerConfig::new(fixture(TINY).to_string_lossy())
    }
}

impl TestServer {
    async fn start(config: ServerConfig) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(config, listener, async {
            let _ = stopped.await;
        }));
        let server = TestServer {
            base,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task,
        };
        server.wait_ready().await;
        server
    }

    /// Polls `/health` until it answers 200 (the model is loaded).
    async fn wait_ready(&self) {
        for _ in 0..1000 {
            if let Ok(response) = self.client.get(self.url("/health")).send().await {
                if response.status() == StatusCode::OK {
                    return;
                }
                assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the server never became ready");
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// Posts a streaming request and returns the `data:` payloads in order.
    async fn post_stream(&self, path: &str, body: Value) -> Vec<String> {
        let response = self
            .client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert_eq!(content_type, "text/event-stream");
        let text = response.text().await.unwrap();
        text.split("\n\n")
            .filter(|event| !event.is_empty())
            .map(|event| {
                event
                    .strip_prefix("data: ")
                    .unwrap_or_else(|| panic!("not an SSE data event: {event:?}"))
                    .to_owned()
            })
            .collect()
    }

    async fn metrics(&self) -> String {
        let response = self.client.get(self.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.unwrap()
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().unwrap();
    }
}

/// The value of an unlabelled metric line `name value`.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
}

fn chat_body(content: &str, max_tokens: u32) -> Value {
    json!({
        "model": MODEL_NAME,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": max_tokens,
        "temperature": 0,
    })
}

/// The text of streamed chat or completion chunks, and the finish reason of the last.
fn reassemble(events: &[String], field: fn(&Value) -> Option<&str>) -> (String, String) {
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let mut text = String::new();
    let mut finish = String::new();
    for event in &events[..events.len() - 1] {
        let chunk: Value = serde_json::from_str(event).unwrap();
        for choice in chunk["choices"].as_array().unwrap() {
            text.push_str(field(choice).unwrap_or(""));
            if let Some(reason) = choice["finish_reason"].as_str() {
                finish = reason.to_owned();
            }
        }
    }
    (text, finish)
}

fn chat_delta(choice: &Value) -> Option<&str> {
    choice["delta"]["content"].as_str()
}

fn completion_text(choice: &Value) -> Option<&str> {
    choice["text"].as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_streams_the_same_text_as_it_returns_whole() {
    let server = TestServer::start(config()).await;
    let (status, whole) = server
        .post("/v1/chat/completions", chat_body("Hello there", 40))
        .await;
    assert_eq!(status, StatusCode::OK, "{whole}");
    assert_eq!(whole["object"], "chat.completion");
    assert_eq!(whole["model"], MODEL_NAME);
    let message = &whole["choices"][0]["message"];
    assert_eq!(message["role"], "assistant");
    let text = message["content"].as_str().unwrap();
    let usage = &whole["usage"];
    let completion_tokens = usage["completion_tokens"].as_u64().unwrap();
    assert!(completion_tokens > 0, "{whole}");
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + completion_tokens
    );
    let finish = whole["choices"][0]["finish_reason"].as_str().unwrap();
    assert!(finish == "stop" || finish == "length", "{finish}");
    if finish == "length" {
        assert_eq!(completion_tokens, 40);
    }

    let mut body = chat_body("Hello there", 40);
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let events = server.post_stream("/v1/chat/completions", body).await;
    let first: Value = serde_json::from_str(&events[0]).unwrap();
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    let (streamed, streamed_finish) = reassemble(&events, chat_delta);
    assert_eq!(streamed, text);
    assert_eq!(streamed_finish, finish);
    // include_usage: the chunk before [DONE] has no choices and the usage.
    let usage_chunk: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["completion_tokens"], completion_tokens);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_stream_stop_and_reuse_the_cached_prefix() {
    let server = TestServer::start(ServerConfig {
        slots: 1,
        ..config()
    })
    .await;
    let body = json!({"model": MODEL_NAME, "prompt": "the cat sat on", "max_tokens": 30, "temperature": 0});
    let (status, whole) = server.post("/v1/completions", body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{whole}");
    assert_eq!(whole["object"], "text_completion");
    let text = whole["choices"][0]["text"].as_str().unwrap().to_owned();
    assert!(text.chars().count() >= 4, "too short to cut: {text:?}");
    let prompt_tokens = whole["usage"]["prompt_tokens"].as_u64().unwrap();
    assert_eq!(whole["usage"]["prompt_tokens_details"]["cached_tokens"], 0);

    // The same prompt again on the one slot: all but its last token come from the cache,
    // and the text is the same (cached decoding equals uncached decoding).
    let mut streamed_body = body.clone();
    streamed_body["stream"] = json!(true);
    streamed_body["stream_options"] = json!({"include_usage": true});
    let events = server.post_stream("/v1/completions", streamed_body).await;
    let (streamed, _) = reassemble(&events, completion_text);
    assert_eq!(streamed, text);
    let usage: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert_eq!(
        usage["usage"]["prompt_tokens_details"]["cached_tokens"],
        prompt_tokens - 1
    );

    // A stop string taken from the middle of the text cuts it before its first occurrence.
    let chars: Vec<char> = text.chars().collect();
    let stop: String = chars[2..4].iter().collect();
    let cut = &text[..text.find(&stop).unwrap()];
    for stop_value in [json!(stop), json!(["\u{1}never", stop])] {
        let mut stopped = body.clone();
        stopped["stop"] = stop_value;
        let (status, reply) = server.post("/v1/completions", stopped).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        assert_eq!(reply["choices"][0]["text"], cut);
        assert_eq!(reply["choices"][0]["finish_reason"], "stop");
    }

    // Prompts as token ids and a one-element list.
    let (status, ids) = server
        .post("/tokenize", json!({"content": "the cat sat on"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    for prompt in [ids["tokens"].clone(), json!(["the cat sat on"])] {
        let mut by_ids = body.clone();
        by_ids["prompt"] = prompt;
        let (status, reply) = server.post("/v1/completions", by_ids).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        assert_eq!(reply["choices"][0]["text"], text.as_str());
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_tokens_ends_with_length_and_seeds_replay() {
    let server = TestServer::start(config()).await;
    let body = json!({
        "prompt": "abc", "max_tokens": 5, "temperature": 1.0, "seed": 7,
        "top_k": 40, "top_p": 0.95, "min_p": 0.05, "repeat_penalty": 1.1,
        "presence_penalty": 0.5, "frequency_penalty": 0.5,
        // Both names: max_completion_tokens wins.
        "max_completion_tokens": 3,
    });
    let (status, first) = server.post("/v1/completions", body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (_, second) = server.post("/v1/completions", body).await;
    assert_eq!(first["choices"], second["choices"]);
    let usage = &first["usage"];
    if first["choices"][0]["finish_reason"] == "length" {
        assert_eq!(usage["completion_tokens"], 3);
    } else {
        assert!(usage["completion_tokens"].as_u64().unwrap() < 3);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_health_tokenize_detokenize_and_metrics() {
    let server = TestServer::start(config()).await;
    let models: Value = server
        .client
        .get(server.url("/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], MODEL_NAME);
    assert_eq!(models["data"][0]["object"], "model");
    assert_eq!(models["data"][0]["context_length"], 256);

    let health = server
        .client
        .get(server.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    let (status, tokens) = server
        .post("/tokenize", json!({"content": "the cat"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let ids = tokens["tokens"].as_array().unwrap();
    assert!(!ids.is_empty());
    let (status, text) = server
        .post("/detokenize", json!({"tokens": tokens["tokens"]}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text["content"], "the cat");
    let (status, error) = server
        .post("/detokenize", json!({"tokens": [100000]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");

    let (status, reply) = server
        .post("/v1/chat/completions", chat_body("hi", 4))
        .await;
    assert_eq!(status, StatusCode::OK);
    let generated = reply["usage"]["completion_tokens"].as_f64().unwrap();
    let prompt = reply["usage"]["prompt_tokens"].as_f64().unwrap();
    let text = server.metrics().await;
    assert_eq!(metric(&text, "smallmind_generated_tokens_total"), generated);
    assert_eq!(metric(&text, "smallmind_prompt_tokens_total"), prompt);
    assert_eq!(metric(&text, "smallmind_queue_depth"), 0.0);
    assert_eq!(metric(&text, "smallmind_busy_slots"), 0.0);
    assert_eq!(metric(&text, "smallmind_kv_cache_capacity_tokens"), 512.0);
    // The slot keeps the prompt and every generated token but the last (never fed).
    assert_eq!(
        metric(&text, "smallmind_kv_cache_tokens"),
        prompt + generated - 1.0
    );
    assert_eq!(
        metric(&text, "smallmind_time_to_first_token_seconds_count"),
        1.0
    );
    assert_eq!(
        metric(&text, "smallmind_inter_token_latency_seconds_count"),
        generated - 1.0
    );
    assert!(
        text.contains("smallmind_requests_total{status=\"200\"}"),
        "{text}"
    );
    server.stop().await;
}

/// Posts `body` with `content_type` and returns the status and the error object.
async fn post_raw(
    server: &TestServer,
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let response = server
        .client
        .post(server.url(path))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_openai_errors_and_the_server_keeps_serving() {
    let server = TestServer::start(config()).await;
    let chat = "/v1/chat/completions";
    let json = "application/json";
    let long_prompt = "the cat sat on the mat ".repeat(100);
    let cases: Vec<(Value, StatusCode, Option<&str>, Option<&str>)> = vec![
        (
            json!({"model": MODEL_NAME}),
            StatusCode::BAD_REQUEST,
            None,
            None,
        ),
        (
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
            StatusCode::NOT_FOUND,
            Some("model"),
            Some("model_not_found"),
        ),
        (
            json!({"messages": [{"role": "user", "content": "hi"}], "n": 2}),
            StatusCode::BAD_REQUEST,
            Some("n"),
            None,
        ),
        (
            json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}),
            StatusCode::BAD_REQUEST,
            Some("max_tokens"),
            None,
        ),
        (
            json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": -3}),
            StatusCode::BAD_REQUEST,
            Some("max_tokens"),
            None,
        ),
        (
            json!({"messages": [{"role": "user", "content": long_prompt}]}),
            StatusCode::BAD_REQUEST,
            Some("messages"),
            Some("context_length_exceeded"),
        ),
        (
            json!({"messages": []}),
            StatusCode::BAD_REQUEST,
            Some("messages"),
            None,
        ),
        (
            json!({"messages": [{"role": "user", "content": "hi"}], "temperature": -1}),
            StatusCode::BAD_REQUEST,
            None,
            None,
        ),
        (
            json!({"messages": [{"role": "user", "content": "hi"}], "stop": ""}),
            StatusCode::BAD_REQUEST,
            Some("stop"),
            None,
        ),
    ];
    for (body, status, param, code) in cases {
        let (got, error) = post_raw(&server, chat, json, body.to_string()).await;
        assert_eq!(got, status, "{body}: {error}");
        assert_eq!(error["type"], "invalid_request_error", "{error}");
        assert!(!error["message"].as_str().unwrap().is_empty());
        assert_eq!(error["param"].as_str(), param, "{body}: {error}");
        assert_eq!(error["code"].as_str(), code, "{body}: {error}");
    }
    // The completions endpoint reports an over-long prompt the same way.
    let (got, error) = post_raw(
        &server,
        "/v1/completions",
        json,
        json!({"prompt": long_prompt}).to_string(),
    )
    .await;
    assert_eq!(got, StatusCode::BAD_REQUEST);
    assert_eq!(error["code"], "context_length_exceeded");
    assert_eq!(error["param"], "prompt");

    let (got, error) = post_raw(&server, chat, json, "{\"messages\": [").await;
    assert_eq!(got, StatusCode::BAD_REQUEST, "{error}");
    let (got, error) = post_raw(&server, chat, "text/plain", "{}").await;
    assert_eq!(got, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{error}");
    let huge = vec![b' '; 3 << 20];
    let (got, error) = post_raw(&server, chat, json, huge).await;
    assert_eq!(got, StatusCode::PAYLOAD_TOO_LARGE, "{error}");
    let (got, error) = post_raw(&server, "/v2/nothing", json, "{}").await;
    assert_eq!(got, StatusCode::NOT_FOUND, "{error}");

    let (status, reply) = server
        .post("/v1/chat/completions", chat_body("still there?", 3))
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let text = server.metrics().await;
    assert!(text.contains("smallmind_requests_total{status=\"400\"}"));
    assert!(text.contains("smallmind_requests_total{status=\"413\"}"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_is_required_except_for_health() {
    let server = TestServer::start(ServerConfig {
        api_key: Some("sesame".into()),
        ..config()
    })
    .await;
    let models = server.url("/v1/models");
    let missing = server.client.get(&models).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let error: Value = missing.json().await.unwrap();
    assert_eq!(error["error"]["code"], "invalid_api_key");
    let wrong = server
        .client
        .get(&models)
        .bearer_auth("sesam")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let right = server
        .client
        .post(server.url("/v1/chat/completions"))
        .bearer_auth("sesame")
        .json(&chat_body("hi", 2))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_beyond_the_queue_gets_429_with_retry_after() {
    let server = TestServer::start(ServerConfig {
        slots: 1,
        max_queue: 1,
        ..config()
    })
    .await;
    // Each request generates up to 200 tokens; 32 sent at once cannot all fit one slot and
    // one queue place.
    let body = json!({"prompt": "the", "max_tokens": 200, "temperature": 0});
    let requests = (0..32).map(|_| {
        let client = server.client.clone();
        let url = server.url("/v1/completions");
        let body = body.clone();
        tokio::spawn(async move {
            let response = client.post(url).json(&body).send().await.unwrap();
            let retry_after = response.headers().get("retry-after").cloned();
            (response.status(), retry_after)
        })
    });
    let mut ok = 0;
    let mut rejected = 0;
    for request in requests.collect::<Vec<_>>() {
        let (status, retry_after) = request.await.unwrap();
        match status {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(retry_after.is_some());
                rejected += 1;
            }
            other => panic!("status {other}"),
        }
    }
    assert!(ok >= 1 && rejected >= 1, "{ok} served, {rejected} rejected");
    assert_eq!(
        server
            .client
            .get(server.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_deadline_gets_504() {
    let server = TestServer::start(ServerConfig {
        timeout: Duration::from_nanos(1),
        ..config()
    })
    .await;
    let (status, error) = server
        .post("/v1/chat/completions", chat_body("hi", 50))
        .await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{error}");
    assert_eq!(error["error"]["code"], "timeout");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_stream_frees_its_slot_and_shutdown_ends_a_stream() {
    let server = TestServer::start(ServerConfig {
        slots: 1,
        ..config()
    })
    .await;
    let body = json!({"prompt": "the", "max_tokens": 250, "temperature": 0, "stream": true});
    let response = server
        .client
        .post(server.url("/v1/completions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    drop(response);
    // The one slot serves the next request: the dropped one was freed (or had finished).
    let (status, _) = server
        .post("/v1/chat/completions", chat_body("hi", 3))
        .await;
    assert_eq!(status, StatusCode::OK);
    let text = server.metrics().await;
    assert_eq!(metric(&text, "smallmind_busy_slots"), 0.0);

    // Shutdown during a stream: the stream ends (with an error event and [DONE]) and `serve`
    // returns Ok.
    let mut response = server
        .client
        .post(server.url("/v1/completions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let first = response.chunk().await.unwrap();
    assert!(first.is_some());
    let TestServer { stop, task, .. } = server;
    let _ = stop.unwrap().send(());
    let mut rest = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        rest.extend_from_slice(&chunk);
    }
    let rest = String::from_utf8(rest).unwrap();
    assert!(
        rest.is_empty() || rest.ends_with("data: [DONE]\n\n"),
        "{rest}"
    );
    task.await.unwrap().unwrap();
}
