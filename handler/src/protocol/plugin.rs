//! The plug-in interface: what a function *does* lives behind [`Function`],
//! and a [`FunctionSet`] maps every function of the app to one. The protocol
//! layer owns the wire format; the orchestration owns the behaviour.
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;

use super::model::{FunctionOutput, Invocation, InvokeError};
use super::names::FunctionName;

/// The behaviour of one function. Called concurrently (the host sends many
/// invocations at once), so implementations are `Send + Sync` and keep
/// their shared state behind `Arc`s.
#[async_trait]
pub trait Function: Send + Sync {
    /// Runs one invocation. The [`InvokeError`] variant decides whether the
    /// host retries; see the error policy in [`crate::protocol`].
    async fn invoke(&self, inv: Invocation) -> Result<FunctionOutput, InvokeError>;
}

/// A [`Function`] made from an async closure (handy for small behaviours
/// and tests).
pub fn from_fn<F, Fut>(f: F) -> Arc<dyn Function>
where
    F: Fn(Invocation) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<FunctionOutput, InvokeError>> + Send + 'static,
{
    Arc::new(FnFunction(f))
}

struct FnFunction<F>(F);

#[async_trait]
impl<F, Fut> Function for FnFunction<F>
where
    F: Fn(Invocation) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<FunctionOutput, InvokeError>> + Send + 'static,
{
    async fn invoke(&self, inv: Invocation) -> Result<FunctionOutput, InvokeError> {
        (self.0)(inv).await
    }
}

/// The stand-in for a function whose behaviour is not wired in: it fails
/// with a clear message and never pretends to succeed. It answers
/// [`InvokeError::Transient`] on purpose: a queue message is then kept and,
/// after `maxDequeueCount` tries, parked in the poison queue instead of
/// being silently deleted; an HTTP caller gets 503.
struct NotConfigured(FunctionName);

#[async_trait]
impl Function for NotConfigured {
    async fn invoke(&self, _inv: Invocation) -> Result<FunctionOutput, InvokeError> {
        Err(InvokeError::Transient(format!(
            "function {} is not configured in this handler build: no behaviour is plugged in for it",
            self.0
        )))
    }
}

/// Every function of the app mapped to its behaviour. Always total: a
/// function nobody configured answers "not configured".
#[derive(Clone)]
pub struct FunctionSet {
    functions: BTreeMap<FunctionName, Arc<dyn Function>>,
    configured: BTreeMap<FunctionName, bool>,
}

impl FunctionSet {
    /// Every function answers "not configured": [`InvokeError::Transient`],
    /// so a queue message is kept (and eventually parked in the poison
    /// queue) rather than deleted, and an HTTP caller gets 503. Replace
    /// them one by one with [`FunctionSet::with`].
    pub fn unconfigured() -> Self {
        let mut functions: BTreeMap<FunctionName, Arc<dyn Function>> = BTreeMap::new();
        let mut configured = BTreeMap::new();
        for name in FunctionName::ALL {
            functions.insert(name, Arc::new(NotConfigured(name)));
            configured.insert(name, false);
        }
        FunctionSet {
            functions,
            configured,
        }
    }

    /// Plugs `function` in for `name` (replacing what was there).
    pub fn with(mut self, name: FunctionName, function: Arc<dyn Function>) -> Self {
        self.functions.insert(name, function);
        self.configured.insert(name, true);
        self
    }

    /// The behaviour of `name` (always present).
    pub fn get(&self, name: FunctionName) -> Arc<dyn Function> {
        match self.functions.get(&name) {
            Some(f) => Arc::clone(f),
            // Unreachable by construction (the map is total), but a missing
            // entry must still fail clearly rather than panic.
            None => Arc::new(NotConfigured(name)),
        }
    }

    /// True when a behaviour was plugged in for `name`.
    pub fn is_configured(&self, name: FunctionName) -> bool {
        self.configured.get(&name).copied().unwrap_or(false)
    }
}

impl fmt::Debug for FunctionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for name in FunctionName::ALL {
            let state = if self.is_configured(name) {
                "configured"
            } else {
                "not configured"
            };
            m.entry(&name.as_str(), &state);
        }
        m.finish()
    }
}
