//! Start-up that does not depend on Azure: the handler binds its port
//! first and opens the app (store tables, Key Vault, the managed
//! identity's token) afterwards, in the background and again on demand.
//!
//! A custom handler must listen within the host's start-up limit (60 s;
//! Flex Consumption allows 30 s of initialisation), and right after a
//! deployment the identity's role assignments may not have propagated:
//! opening the store can fail for minutes. While it does, every function
//! fails *transiently* (a queue message is redelivered, a timer fires
//! again, an HTTP caller gets 503 naming the cause), the readiness probe
//! still answers, and the next invocation tries again.
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::OnceCell;

use crate::app::App;
use crate::protocol::{
    Function, FunctionName, FunctionOutput, FunctionSet, Invocation, InvokeError,
};
use crate::settings::Settings;

/// The app, opened once on first success.
pub struct LazyApp {
    settings: Settings,
    set: OnceCell<FunctionSet>,
}

impl LazyApp {
    pub fn new(settings: Settings) -> Arc<Self> {
        Arc::new(LazyApp {
            settings,
            set: OnceCell::new(),
        })
    }

    /// The functions over the opened app; opens it if nobody has yet
    /// (callers at the same time wait for one attempt; a failed attempt
    /// is retried by the next caller).
    pub async fn functions(&self) -> Result<&FunctionSet, String> {
        self.set
            .get_or_try_init(|| async {
                App::open(self.settings.clone())
                    .await
                    .map(|app| super::function_set(Arc::new(app)))
                    .map_err(|e| e.to_string())
            })
            .await
    }

    /// Whether the app is open.
    pub fn is_open(&self) -> bool {
        self.set.initialized()
    }

    /// Opens the app in the background, retrying with backoff (1 s
    /// doubling to 60 s) until it succeeds; logs each failure.
    pub fn warm_up(self: &Arc<Self>) {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let mut wait = Duration::from_secs(1);
            loop {
                match me.functions().await {
                    Ok(_) => {
                        tracing::info!("app opened: store, secrets and Graph client ready");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, retry_in_s = wait.as_secs(), "app not ready yet (store or vault unreachable); invocations fail transiently until it is");
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(60));
                    }
                }
            }
        });
    }

    /// Every function, each opening the app on demand.
    pub fn function_set(self: &Arc<Self>) -> FunctionSet {
        FunctionName::ALL
            .into_iter()
            .fold(FunctionSet::unconfigured(), |set, name| {
                set.with(
                    name,
                    Arc::new(Lazy {
                        app: Arc::clone(self),
                        name,
                    }),
                )
            })
    }
}

/// One function behind the lazily opened app.
struct Lazy {
    app: Arc<LazyApp>,
    name: FunctionName,
}

#[async_trait]
impl Function for Lazy {
    async fn invoke(&self, inv: Invocation) -> Result<FunctionOutput, InvokeError> {
        let set = self.app.functions().await.map_err(|e| {
            InvokeError::Transient(format!(
                "the app is not ready yet ({e}); this invocation will be retried"
            ))
        })?;
        set.get(self.name).invoke(inv).await
    }
}
