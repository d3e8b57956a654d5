//! The Azure Functions custom-handler protocol and the HTTP server the
//! Functions host talks to.
//!
//! The host triggers a function (timer, queue message, HTTP request) and
//! POSTs a JSON envelope `{"Data":{…},"Metadata":{…}}` to
//! `http://127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT/{function-name}`. This
//! module decodes that envelope into typed values, hands them to the
//! function's behaviour, and encodes the answer as
//! `{"Outputs":{…},"Logs":[…],"ReturnValue":…}`. The wire format is written
//! down in `docs/protocol.md`; everything here follows it.
//!
//! # Parts
//! - [`names`]: the eight functions of the app ([`FunctionName`],
//!   [`FUNCTION_NAMES`]) and, for each, its trigger, binding names, queue and
//!   schedule. A test checks these against the `functions/*/function.json`
//!   files, so the code and the deployed definitions cannot drift apart.
//! - [`model`]: what a function receives ([`Invocation`], [`Trigger`],
//!   [`TimerInfo`], [`QueueMessage`], [`HttpRequest`]) and returns
//!   ([`FunctionOutput`], [`HttpResponse`], [`InvokeError`]).
//! - [`plugin`]: the plug-in interface ([`Function`], [`FunctionSet`],
//!   [`from_fn`]).
//! - [`envelope`]: decoding request envelopes and encoding responses
//!   (tolerant of every shape the host is known to send).
//! - [`server`]: the axum [`app`], [`serve`] with graceful shutdown, the
//!   port lookup and the signal handling.
//!
//! # Plugging in behaviour
//! The protocol layer knows nothing about tenants or Graph. Each function's
//! behaviour is an `Arc<dyn Function>`:
//!
//! ```no_run
//! use std::sync::Arc;
//! use guest_sync::protocol::{
//!     app, from_fn, FunctionName, FunctionOutput, FunctionSet, InvokeError, Trigger,
//! };
//!
//! let worker = from_fn(|inv| async move {
//!     let Trigger::Queue(msg) = inv.trigger else {
//!         return Err(InvokeError::BadInput("tenant-worker takes a queue message".into()));
//!     };
//!     let item = msg.work_item()?; // BadInput when the body is no work item
//!     let _ = item; // … run the job, maybe return a continuation:
//!     Ok(FunctionOutput::default())
//! });
//! let set = FunctionSet::unconfigured().with(FunctionName::TenantWorker, worker);
//! let router = app(set); // or serve(listener, set, shutdown)
//! # let _ = router;
//! ```
//!
//! [`FunctionSet::unconfigured`] maps every function to a behaviour that
//! fails clearly ("not configured") instead of pretending to succeed; the
//! real set is built in one place, `orchestration::function_set(app)`
//! (`orchestration::build(settings)` for the `handler` binary).
//!
//! # Error policy (what the host sees)
//! | case | timer / queue function | HTTP function (`report`, `provision`) |
//! |---|---|---|
//! | `Ok(output)` | 200, outputs written | 200, `Outputs.res` = the response |
//! | [`InvokeError::Transient`] | **500** JSON: the invocation fails, the host redelivers a queue message (after `maxDequeueCount` it goes to the poison queue) | 200 with `res` 503 |
//! | [`InvokeError::Permanent`] | 200, the error in `Logs`: the function already recorded it; redelivery would only repeat it | 200 with `res` 500 |
//! | [`InvokeError::BadInput`] | 200, the error in `Logs`: a malformed work item never becomes valid, so retrying five times only delays the same result; the function records it (e.g. on the run) before returning | 200 with `res` 400 |
//! | a function panics | 500 (treated as transient) | 200 with `res` 503 |
//! | a function returns outputs its bindings cannot carry (a queue message that is not a JSON object, an HTTP function without a response) | **500**: a bug, not data | 200 with `res` 500 |
//! | envelope is not JSON, lacks `Data` or the trigger binding, or has a wrong type | **400** JSON `{"error","field","expected"}` naming the field and the expected shape | same |
//! | unknown function name | **404** JSON | same |
//! | body over [`MAX_BODY_BYTES`] (4 MiB) | **413** JSON | same |
//!
//! Every invocation writes one [`crate::events::INVOCATION`] event with
//! `function`, `invocation_id` (from the `X-Azure-Functions-InvocationId`
//! header), `duration_ms` and `outcome` (`ok`, `transient_error`,
//! `permanent_error`, `bad_request`); failures also carry `error`.
pub mod envelope;
pub mod model;
pub mod names;
pub mod plugin;
pub mod server;

pub use envelope::{EnvelopeError, OutputError};
pub use model::{
    FunctionOutput, HttpRequest, HttpResponse, Invocation, InvokeError, QueueMessage, TimerInfo,
    Trigger,
};
pub use names::{
    FunctionName, TriggerKind, FUNCTION_NAMES, HTTP_OUTPUT_BINDING, POISON_QUEUE,
    QUARANTINE_OUTPUT_BINDING, QUARANTINE_QUEUE, QUEUE_OUTPUT_BINDING, STORAGE_CONNECTION,
    WORK_QUEUE,
};
pub use plugin::{from_fn, Function, FunctionSet};
pub use server::{
    app, port_from_lookup, serve, serve_with_grace, shutdown_signal, PortError,
    DEFAULT_GRACE_PERIOD, INVOCATION_ID_HEADER, MAX_BODY_BYTES,
};
