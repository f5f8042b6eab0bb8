//! `GET /metrics`: the server's counters, gauges and histograms in the Prometheus text format
//! (OpenMetrics, through `prometheus-client`). Every metric is named `smallmind_*`; the
//! scheduler and the HTTP layer update them, the endpoint only encodes them.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The label of `smallmind_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StatusLabel {
    pub status: u16,
}

/// Every metric, registered once.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    pub requests: Family<StatusLabel, Counter>,
    pub prompt_tokens: Counter,
    pub cached_tokens: Counter,
    pub generated_tokens: Counter,
    pub time_to_first_token: Histogram,
    pub inter_token_latency: Histogram,
    pub queue_depth: Gauge,
    pub busy_slots: Gauge,
    pub kv_cache_tokens: Gauge,
    pub kv_cache_capacity: Gauge,
}

/// Seconds; TTFT spans a decode step (ms) to a long queued prefill (tens of s).
const TTFT_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Seconds; one decode step of a small model is 1–100 ms.
const ITL_BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0,
];

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut metrics = Metrics {
            requests: Family::default(),
            prompt_tokens: Counter::default(),
            cached_tokens: Counter::default(),
            generated_tokens: Counter::default(),
            time_to_first_token: Histogram::new(TTFT_BUCKETS),
            inter_token_latency: Histogram::new(ITL_BUCKETS),
            queue_depth: Gauge::default(),
            busy_slots: Gauge::default(),
            kv_cache_tokens: Gauge::default(),
            kv_cache_capacity: Gauge::default(),
            registry: Registry::with_prefix("smallmind"),
        };
        let registry = &mut metrics.registry;
        registry.register(
            "requests",
            "HTTP requests answered, by status code",
            metrics.requests.clone(),
        );
        registry.register(
            "prompt_tokens",
            "Prompt tokens of admitted requests",
            metrics.prompt_tokens.clone(),
        );
        registry.register(
            "prompt_cached_tokens",
            "Prompt tokens reused from a slot's KV cache instead of recomputed",
            metrics.cached_tokens.clone(),
        );
        registry.register(
            "generated_tokens",
            "Tokens generated",
            metrics.generated_tokens.clone(),
        );
        registry.register(
            "time_to_first_token_seconds",
            "From a request's arrival to its first generated token",
            metrics.time_to_first_token.clone(),
        );
        registry.register(
            "inter_token_latency_seconds",
            "Between two generated tokens of one request",
            metrics.inter_token_latency.clone(),
        );
        registry.register(
            "queue_depth",
            "Requests waiting for a slot",
            metrics.queue_depth.clone(),
        );
        registry.register(
            "busy_slots",
            "Slots serving a request",
            metrics.busy_slots.clone(),
        );
        registry.register(
            "kv_cache_tokens",
            "Positions held in the KV caches of all slots (busy or kept for prefix reuse)",
            metrics.kv_cache_tokens.clone(),
        );
        registry.register(
            "kv_cache_capacity_tokens",
            "Positions the KV caches of all slots can hold",
            metrics.kv_cache_capacity.clone(),
        );
        metrics
    }

    /// The text exposition of every metric.
    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a `String` cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
