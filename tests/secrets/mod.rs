//! Secrets: the real Key Vault SDK against a local fake vault over TLS (with
//! the 401 challenge and a fake managed-identity endpoint), the local file
//! source, the expiry rule, and a suite-wide scan that no secret leaks
//! (onboarding itself is tested in `tests/tenants/`).
//!
//! Environment variables are process-global: every test that sets one
//! holds [`ENV_LOCK`] through an [`EnvGuard`] for its whole duration.
mod expiry;
pub mod fake_vault;
mod keyvault;
pub mod no_leak;

/// Serialises the tests that set process environment variables.
pub static ENV_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Sets variables for a test and restores the previous values on drop.
pub struct EnvGuard {
    saved: Vec<(String, Option<String>)>,
    _lock: tokio::sync::MutexGuard<'static, ()>,
}

impl EnvGuard {
    /// Takes [`ENV_LOCK`], then sets (`Some`) or removes (`None`) each var.
    pub async fn set(vars: &[(&str, Option<&str>)]) -> EnvGuard {
        let lock = ENV_LOCK.lock().await;
        let mut saved = Vec::new();
        for (k, v) in vars {
            saved.push((k.to_string(), std::env::var(k).ok()));
            match v {
                Some(v) => std::env::set_var(k, v),
                None => std::env::remove_var(k),
            }
        }
        EnvGuard { saved, _lock: lock }
    }
}

impl Drop for EnvGuard {
    fn drop(&mut self) {
        for (k, v) in self.saved.drain(..).rev() {
            match v {
                Some(v) => std::env::set_var(&k, v),
                None => std::env::remove_var(&k),
            }
        }
    }
}
