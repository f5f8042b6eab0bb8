//! Errors: [`ApiError`], what a request gets back (an HTTP status and OpenAI's error object),
//! and [`ServerError`], why the server could not start or run.

use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::wire::{ErrorBody, ErrorObject};

/// Why [`crate::serve`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A flag is out of range.
    #[error("invalid setting `{name}`: {reason}")]
    InvalidSetting {
        /// The flag.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Loading the model or planning its slots failed.
    #[error("cannot load the model: {0}")]
    Model(#[from] smallmind::Error),
    /// Binding, serving or the runtime failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The scheduler thread panicked.
    #[error("the scheduler thread panicked")]
    SchedulerPanicked,
}

/// A failed request: status, OpenAI's `type`, `code` and `param`, and a message that names
/// the problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub code: Option<&'static str>,
    pub param: Option<&'static str>,
    pub message: String,
}

impl ApiError {
    /// 400 `invalid_request_error`.
    pub(crate) fn invalid(param: Option<&'static str>, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code: None,
            param,
            message: message.into(),
        }
    }

    /// The same error with `code`.
    pub(crate) fn with_code(mut self, code: &'static str) -> ApiError {
        self.code = Some(code);
        self
    }

    /// 404 `model_not_found`.
    pub(crate) fn unknown_model(asked: &str, served: &str) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: Some("model_not_found"),
            param: Some("model"),
            ..ApiError::invalid(
                None,
                format!("the model `{asked}` does not exist; this server serves `{served}`"),
            )
        }
    }

    /// 401 `invalid_api_key`.
    pub(crate) fn unauthorized(message: &str) -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: Some("invalid_api_key"),
            ..ApiError::invalid(None, message)
        }
    }

    /// 429: the request queue is full.
    pub(crate) fn overloaded(queue: usize) -> ApiError {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            kind: "server_overloaded",
            code: Some("queue_full"),
            param: None,
            message: format!("all slots are busy and {queue} requests are queued; retry later"),
        }
    }

    /// 503: still loading, or shutting down.
    pub(crate) fn unavailable(message: &str) -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            kind: "unavailable_error",
            code: None,
            param: None,
            message: message.into(),
        }
    }

    /// 504: the request's deadline (`--timeout`) passed.
    pub(crate) fn timed_out(seconds: f64) -> ApiError {
        ApiError {
            status: StatusCode::GATEWAY_TIMEOUT,
            kind: "timeout_error",
            code: Some("timeout"),
            param: None,
            message: format!("the request did not finish within the server's {seconds} s limit"),
        }
    }

    /// 500: the model failed while generating.
    pub(crate) fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "server_error",
            code: None,
            param: None,
            message: message.into(),
        }
    }

    /// The JSON error object.
    pub(crate) fn body(&self) -> String {
        let body = ErrorBody {
            error: ErrorObject {
                message: &self.message,
                kind: self.kind,
                param: self.param,
                code: self.code,
            },
        };
        serde_json::to_string(&body).unwrap_or_else(|_| String::from("{\"error\":{}}"))
    }
}

/// Seconds a client told "429" should wait before retrying.
const RETRY_AFTER_SECONDS: &str = "1";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            self.body(),
        )
            .into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        let status = rejection.status();
        let message = rejection.body_text();
        match rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code: Some("unsupported_media_type"),
                ..ApiError::invalid(
                    None,
                    "the body must be JSON (`Content-Type: application/json`)",
                )
            },
            JsonRejection::BytesRejection(_) if status == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError {
                    status,
                    code: Some("request_too_large"),
                    ..ApiError::invalid(None, message)
                }
            }
            // Syntax errors, missing fields and wrong types are all the client's: 400 (axum
            // answers 422 for the last two; OpenAI answers 400).
            _ => ApiError::invalid(None, message),
        }
    }
}
