//! The HTTP server the Functions host talks to: `GET /` for the readiness
//! probe, `POST /{function}` per invocation, graceful shutdown, and the
//! port lookup. Errors are mapped to responses here and logged once, in the
//! invocation event, never inside `into_response`.
use std::future::{Future, IntoFuture};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use serde_json::{json, Value};
use tracing::Instrument;

use super::envelope::{self, EnvelopeError, OutputError};
use super::model::InvokeError;
use super::names::{FunctionName, TriggerKind, UnknownFunction, FUNCTION_NAMES};
use super::plugin::FunctionSet;
use crate::events;

/// Largest request envelope accepted: 4 MiB. A queue message is at most
/// 64 KiB (ours stay under 48 KB) and the HTTP functions take small JSON
/// bodies, so anything bigger is a mistake; it gets 413.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// How long [`serve`] lets in-flight invocations finish after the shutdown
/// signal before it returns anyway. Jobs are idempotent and a cut-off one is
/// redelivered, so waiting longer than the platform's own stop timeout
/// gains nothing.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(30);

/// The header carrying the host's invocation id.
pub const INVOCATION_ID_HEADER: &str = "x-azure-functions-invocationid";

/// Why the handler cannot answer an invocation request.
#[derive(Debug, thiserror::Error)]
enum HandlerError {
    #[error(transparent)]
    UnknownFunction(#[from] UnknownFunction),
    #[error("request body is larger than the {limit}-byte limit")]
    TooLarge { limit: usize },
    #[error("could not read the request body: {0}")]
    BodyRead(String),
    #[error("malformed envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    #[error("function output cannot be encoded: {0}")]
    Output(#[from] OutputError),
}

impl HandlerError {
    fn status(&self) -> StatusCode {
        match self {
            HandlerError::UnknownFunction(_) => StatusCode::NOT_FOUND,
            HandlerError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            HandlerError::BodyRead(_) | HandlerError::Envelope(_) => StatusCode::BAD_REQUEST,
            HandlerError::Output(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn outcome(&self) -> Outcome {
        match self {
            HandlerError::Output(_) => Outcome::TransientError,
            _ => Outcome::BadRequest,
        }
    }
}

impl IntoResponse for HandlerError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.to_string() });
        if let HandlerError::Envelope(e) = &self {
            body["field"] = json!(e.field);
            body["expected"] = json!(e.expected);
        }
        if let HandlerError::TooLarge { limit } = &self {
            body["limit"] = json!(limit);
        }
        (self.status(), Json(body)).into_response()
    }
}

/// The `outcome` field of the invocation event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    TransientError,
    PermanentError,
    BadRequest,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::TransientError => "transient_error",
            Outcome::PermanentError => "permanent_error",
            Outcome::BadRequest => "bad_request",
        }
    }
}

#[derive(Clone)]
struct AppState {
    set: Arc<FunctionSet>,
}

/// The router: `GET /` (readiness) and `POST /{function}` for every
/// function of `set`. Tests drive it with `tower::ServiceExt::oneshot`.
pub fn app(set: FunctionSet) -> Router {
    Router::new()
        .route("/", get(ready))
        .route("/{function}", post(invoke).fallback(method_not_allowed))
        .fallback(not_found)
        .with_state(AppState { set: Arc::new(set) })
}

/// Answers the host's readiness probe at once.
async fn ready() -> Json<Value> {
    Json(json!({
        "service": "guest-sync handler",
        "version": env!("CARGO_PKG_VERSION"),
        "functions": FUNCTION_NAMES,
    }))
}

async fn not_found() -> (StatusCode, Json<Value>) {
    (
        StatusCode::NOT_FOUND,
        Json(json!({
            "error": format!("no such route: the handler serves GET / and POST /{{function}} for {}", FUNCTION_NAMES.join(", "))
        })),
    )
}

async fn method_not_allowed() -> (
    StatusCode,
    [(header::HeaderName, &'static str); 1],
    Json<Value>,
) {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, "POST")],
        Json(json!({ "error": "functions are invoked with POST /{function}" })),
    )
}

/// Reads the body, refusing more than [`MAX_BODY_BYTES`].
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, HandlerError> {
    let too_large = HandlerError::TooLarge {
        limit: MAX_BODY_BYTES,
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large);
    }
    let mut buf = Vec::with_capacity(declared.unwrap_or(0) as usize);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| HandlerError::BodyRead(e.to_string()))?;
        if buf.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// What one invocation request produced: the response, the outcome, and
/// the error to log (if any).
struct Handled {
    response: Response,
    outcome: Outcome,
    error: Option<String>,
}

impl From<HandlerError> for Handled {
    fn from(e: HandlerError) -> Self {
        Handled {
            outcome: e.outcome(),
            error: Some(e.to_string()),
            response: e.into_response(),
        }
    }
}

async fn invoke(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let invocation_id = headers
        .get(INVOCATION_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let shown_name: String = name.chars().take(128).collect();
    let span = tracing::info_span!(
        "invocation",
        function = %shown_name,
        invocation_id = invocation_id.as_deref().unwrap_or(""),
    );
    span.in_scope(|| tracing::debug!("invocation received"));
    let handled = handle(&state, &name, invocation_id.clone(), &headers, body)
        .instrument(span.clone())
        .await;
    let duration_ms = started.elapsed().as_millis() as u64;
    let id = invocation_id.as_deref().unwrap_or("");
    match (&handled.outcome, &handled.error) {
        (Outcome::Ok, _) | (_, None) => tracing::info!(
            event = events::INVOCATION,
            function = %shown_name,
            invocation_id = id,
            duration_ms,
            outcome = handled.outcome.as_str(),
            "invocation finished"
        ),
        (Outcome::BadRequest, Some(error)) => tracing::warn!(
            event = events::INVOCATION,
            function = %shown_name,
            invocation_id = id,
            duration_ms,
            outcome = handled.outcome.as_str(),
            error = %error,
            "invocation refused"
        ),
        (_, Some(error)) => tracing::error!(
            event = events::INVOCATION,
            function = %shown_name,
            invocation_id = id,
            duration_ms,
            outcome = handled.outcome.as_str(),
            error = %error,
            "invocation failed"
        ),
    }
    handled.response
}

async fn handle(
    state: &AppState,
    name: &str,
    invocation_id: Option<String>,
    headers: &HeaderMap,
    body: Body,
) -> Handled {
    let function: FunctionName = match name.parse() {
        Ok(f) => f,
        Err(e) => return HandlerError::UnknownFunction(e).into(),
    };
    let bytes = match read_body(headers, body).await {
        Ok(b) => b,
        Err(e) => return e.into(),
    };
    let inv = match envelope::decode_request(function, invocation_id, &bytes) {
        Ok(inv) => inv,
        Err(e) => return HandlerError::Envelope(e).into(),
    };
    // Run the behaviour on its own task so that a panic inside it becomes a
    // failed invocation instead of a dropped connection.
    let behaviour = state.set.get(function);
    let result =
        match tokio::spawn(async move { behaviour.invoke(inv).await }.in_current_span()).await {
            Ok(r) => r,
            Err(e) if e.is_panic() => Err(InvokeError::Transient(format!(
                "function {function} panicked"
            ))),
            Err(_) => Err(InvokeError::Transient(format!(
                "function {function} was cancelled"
            ))),
        };
    respond(function, result)
}

/// Maps a function's result to the host's answer (the error policy table in
/// [`crate::protocol`]).
fn respond(
    function: FunctionName,
    result: Result<super::model::FunctionOutput, InvokeError>,
) -> Handled {
    let http = function.trigger() == TriggerKind::Http;
    let ok_json = |v: Value| (StatusCode::OK, Json(v)).into_response();
    match result {
        Ok(out) => match envelope::encode_output(function, out) {
            Ok(v) => Handled {
                response: ok_json(v),
                outcome: Outcome::Ok,
                error: None,
            },
            Err(e) if http => Handled {
                response: ok_json(envelope::encode_http_error(500, &e.to_string(), vec![])),
                outcome: Outcome::PermanentError,
                error: Some(e.to_string()),
            },
            Err(e) => HandlerError::Output(e).into(),
        },
        Err(err) => {
            let message = err.to_string();
            let (outcome, http_status) = match &err {
                InvokeError::Transient(_) => (Outcome::TransientError, 503),
                InvokeError::Permanent(_) => (Outcome::PermanentError, 500),
                InvokeError::BadInput(_) => (Outcome::BadRequest, 400),
            };
            let response = if http {
                ok_json(envelope::encode_http_error(
                    http_status,
                    &message,
                    vec![message.clone()],
                ))
            } else if outcome == Outcome::TransientError {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({ "error": message, "outcome": outcome.as_str() })),
                )
                    .into_response()
            } else {
                ok_json(envelope::encode_logs_only(vec![message.clone()]))
            };
            Handled {
                response,
                outcome,
                error: Some(message),
            }
        }
    }
}

/// Serves `set` on `listener` until `shutdown` resolves, then stops
/// accepting and lets in-flight invocations finish for at most
/// [`DEFAULT_GRACE_PERIOD`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    set: FunctionSet,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_with_grace(listener, set, shutdown, DEFAULT_GRACE_PERIOD).await
}

/// [`serve`] with an explicit grace period.
pub async fn serve_with_grace(
    listener: tokio::net::TcpListener,
    set: FunctionSet,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> io::Result<()> {
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app(set))
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!(
                "shutdown requested: no new connections, finishing in-flight invocations"
            );
            let _ = started_tx.send(());
        })
        .into_future();
    let grace_elapsed = async move {
        match started_rx.await {
            Ok(()) => tokio::time::sleep(grace).await,
            // The server ended without a shutdown request: never fire.
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        result = server => {
            tracing::info!("handler stopped");
            result
        }
        () = grace_elapsed => {
            tracing::warn!(grace_secs = grace.as_secs(), "grace period over: stopping with invocations still running (they will be redelivered)");
            Ok(())
        }
    }
}

/// Registers SIGTERM and SIGINT handlers now (so a signal arriving before
/// the server runs is not lost) and returns a future that resolves on the
/// first of them.
pub fn shutdown_signal() -> io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("received SIGTERM"),
            _ = int.recv() => tracing::info!("received SIGINT"),
        }
    })
}

/// The port variable the host sets, and the older name it also sets.
const PORT_VARS: [&str; 2] = ["FUNCTIONS_CUSTOMHANDLER_PORT", "FUNCTIONS_HTTPWORKER_PORT"];

/// The port to listen on is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("FUNCTIONS_CUSTOMHANDLER_PORT is not set (nor FUNCTIONS_HTTPWORKER_PORT): the Functions host sets it; to run the handler by hand, e.g. FUNCTIONS_CUSTOMHANDLER_PORT=7071")]
    Unset,
    #[error("{name}={value:?} is not a TCP port (a whole number 0-65535; 0 picks a free port)")]
    Invalid { name: &'static str, value: String },
}

/// The port from `FUNCTIONS_CUSTOMHANDLER_PORT`, falling back to
/// `FUNCTIONS_HTTPWORKER_PORT`. `0` binds any free port (tests); the bound
/// address is logged.
pub fn port_from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<u16, PortError> {
    for name in PORT_VARS {
        if let Some(value) = get(name).filter(|v| !v.trim().is_empty()) {
            return value.trim().parse::<u16>().map_err(|_| PortError::Invalid {
                name,
                value: value.chars().take(64).collect(),
            });
        }
    }
    Err(PortError::Unset)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The custom-handler variable wins; the older name is the fallback.
    #[test]
    fn port_comes_from_customhandler_then_httpworker_variable() {
        let both = |k: &str| match k {
            "FUNCTIONS_CUSTOMHANDLER_PORT" => Some("7071".to_string()),
            "FUNCTIONS_HTTPWORKER_PORT" => Some("8080".to_string()),
            _ => None,
        };
        assert_eq!(port_from_lookup(both), Ok(7071));
        let old = |k: &str| (k == "FUNCTIONS_HTTPWORKER_PORT").then(|| "8080".to_string());
        assert_eq!(port_from_lookup(old), Ok(8080));
    }

    /// Unset and malformed ports are refused with the variable's name.
    #[test]
    fn missing_or_bad_port_names_the_variable() {
        let e = port_from_lookup(|_| None).unwrap_err();
        assert!(
            e.to_string().contains("FUNCTIONS_CUSTOMHANDLER_PORT"),
            "{e}"
        );
        let e = port_from_lookup(|k| {
            (k == "FUNCTIONS_CUSTOMHANDLER_PORT").then(|| "seventy".to_string())
        })
        .unwrap_err();
        assert!(matches!(
            e,
            PortError::Invalid {
                name: "FUNCTIONS_CUSTOMHANDLER_PORT",
                ..
            }
        ));
        let e = port_from_lookup(|k| {
            (k == "FUNCTIONS_CUSTOMHANDLER_PORT").then(|| "70000".to_string())
        })
        .unwrap_err();
        assert!(e.to_string().contains("not a TCP port"), "{e}");
    }
}
