//! Local JSON file backend of [`SecretSource`]: **for development and the
//! demo only**. It is used only when `GUESTSYNC_KEYVAULT_URL` is unset; in
//! Azure the secrets live in Key Vault.
//!
//! File format (`GUESTSYNC_LOCAL_SECRETS`, default
//! `guest-sync.secrets.json`):
//! ```json
//! {"contoso-app-secret": {"value": "...", "expiresOn": "2027-05-01T00:00:00Z"},
//!  "host-app-secret":    {"value": "...", "expiresOn": null}}
//! ```
//! An optional `"enabled": false` marks a secret disabled (to rehearse that
//! error locally). The file is created with mode 0600 (owner only) and
//! rewritten atomically (temporary file + rename), so a crash never leaves a
//! half-written file.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::{Secret, SecretError, SecretSource, SecretString};
use crate::domain::SecretName;

/// One entry of the local secrets file. No `Debug`: it holds the value.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub value: String,
    #[serde(default)]
    pub expires_on: Option<DateTime<Utc>>,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
}

/// What a valid secrets file looks like, for error messages.
const FILE_SHAPE: &str = "{\"name\": {\"value\": \"...\", \"expiresOn\": \"RFC 3339\"|null}}";

/// Decodes the secrets file's content (empty or blank: no secrets). The
/// error says where the file is wrong (the entry and field, line and
/// column) and never quotes it: the file holds secret values.
pub fn decode_file(bytes: &[u8]) -> Result<BTreeMap<String, Entry>, String> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(BTreeMap::new());
    }
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(bytes)).map_err(
        |e| {
            let at = crate::domain::json::path_of(&e)
                .map(|p| format!("at {p}, "))
                .unwrap_or_default();
            let inner = e.inner();
            format!(
                "is not a valid secrets file (expected {FILE_SHAPE}): {}, {at}line {}, column {}",
                crate::domain::json::problem(inner),
                inner.line(),
                inner.column()
            )
        },
    )
}

fn yes() -> bool {
    true
}
fn is_true(b: &bool) -> bool {
    *b
}

/// Secrets kept in a local JSON file (development only).
#[derive(Debug)]
pub struct LocalFileSource {
    path: PathBuf,
    /// Serialises read-modify-write cycles within this process.
    lock: Mutex<()>,
}

impl LocalFileSource {
    /// A source backed by `path`; the file need not exist yet (it is
    /// created, 0600, on the first write).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        LocalFileSource {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    /// The file this source reads and writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, detail: String) -> SecretError {
        SecretError::Other {
            source_name: self.describe(),
            detail,
        }
    }

    async fn load(&self) -> Result<BTreeMap<String, Entry>, SecretError> {
        match tokio::fs::read(&self.path).await {
            Ok(bytes) => decode_file(&bytes).map_err(|e| self.err(e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(self.err(format!("cannot be read: {e}"))),
        }
    }

    async fn store(&self, map: &BTreeMap<String, Entry>) -> Result<(), SecretError> {
        let json = serde_json::to_vec_pretty(map)
            .map_err(|e| self.err(format!("cannot be encoded: {}", classify_name(&e))))?;
        let path = self.path.clone();
        let tmp = tmp_path(&path);
        let res = tokio::task::spawn_blocking(move || write_private(&tmp, &json, &path))
            .await
            .map_err(|e| self.err(format!("write task failed: {e}")))?;
        res.map_err(|e| self.err(format!("cannot be written: {e}")))
    }
}

/// serde_json's error category (its message could quote input).
fn classify_name(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "data error",
        serde_json::error::Category::Eof => "unexpected end",
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "secrets".into());
    name.push(format!(".tmp{}", std::process::id()));
    path.with_file_name(name)
}

/// Writes `bytes` to `tmp` created with mode 0600, then renames it over
/// `path` (the final file therefore has mode 0600 too).
fn write_private(tmp: &Path, bytes: &[u8], path: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(tmp)?;
    #[cfg(unix)]
    {
        // A leftover temporary file may predate us with wider permissions.
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(tmp, path)
}

#[async_trait]
impl SecretSource for LocalFileSource {
    fn describe(&self) -> String {
        format!("local secrets file {}", self.path.display())
    }

    async fn get(&self, name: &SecretName) -> Result<Secret, SecretError> {
        let _g = self.lock.lock().await;
        let map = self.load().await?;
        let e = map
            .get(name.as_str())
            .ok_or_else(|| SecretError::NotFound {
                name: name.to_string(),
                source_name: self.describe(),
            })?;
        if !e.enabled {
            return Err(SecretError::Disabled {
                name: name.to_string(),
                source_name: self.describe(),
            });
        }
        if let Some(exp) = e.expires_on {
            if exp <= Utc::now() {
                return Err(SecretError::Expired {
                    name: name.to_string(),
                    source_name: self.describe(),
                    expired_on: Some(exp),
                });
            }
        }
        Ok(Secret {
            value: SecretString::new(e.value.clone()),
            expires_on: e.expires_on,
        })
    }

    async fn set(
        &self,
        name: &SecretName,
        value: &SecretString,
        expires_on: Option<DateTime<Utc>>,
    ) -> Result<(), SecretError> {
        let _g = self.lock.lock().await;
        let mut map = self.load().await?;
        map.insert(
            name.to_string(),
            Entry {
                value: value.expose().to_string(),
                expires_on,
                enabled: true,
            },
        );
        self.store(&map).await?;
        tracing::info!(file = %self.path.display(), secret_name = %name, "secret written to the local secrets file");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> SecretName {
        SecretName::parse(s).unwrap()
    }

    /// A written secret reads back with its expiry, and the file is 0600.
    #[tokio::test]
    async fn written_secret_reads_back_and_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let src = LocalFileSource::new(&path);
        let exp = Utc::now() + chrono::Duration::days(90);
        src.set(&name("a-secret"), &SecretString::new("v-1"), Some(exp))
            .await
            .unwrap();
        let got = src.get(&name("a-secret")).await.unwrap();
        assert_eq!(got.value.expose(), "v-1");
        assert_eq!(got.expires_on.unwrap().timestamp(), exp.timestamp());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    /// Missing, disabled and expired secrets each give their own error,
    /// and a corrupt file's error never quotes its content.
    #[tokio::test]
    async fn missing_disabled_expired_and_corrupt_are_distinct() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(
            &path,
            r#"{"off":{"value":"x-value-1","expiresOn":null,"enabled":false},
               "old":{"value":"x-value-2","expiresOn":"2020-01-01T00:00:00Z"}}"#,
        )
        .unwrap();
        let src = LocalFileSource::new(&path);
        assert!(matches!(
            src.get(&name("none")).await,
            Err(SecretError::NotFound { .. })
        ));
        assert!(matches!(
            src.get(&name("off")).await,
            Err(SecretError::Disabled { .. })
        ));
        assert!(matches!(
            src.get(&name("old")).await,
            Err(SecretError::Expired { .. })
        ));
        std::fs::write(&path, r#"{"a": {"value": "leaky-value-9" "#).unwrap();
        let e = src.get(&name("a")).await.unwrap_err().to_string();
        assert!(!e.contains("leaky-value-9"), "{e}");
        assert!(e.contains("line"), "{e}");
    }

    /// A malformed entry is named by its path, never by its content (found
    /// by the reliability fuzzing: the error said only line and column).
    #[test]
    fn a_bad_entry_is_named_without_its_value() {
        let e = decode_file(br#"{"app-secret": "leaky-value-7"}"#)
            .err()
            .unwrap();
        assert!(e.contains("app-secret"), "{e}");
        assert!(!e.contains("leaky-value-7"), "{e}");
        let e = decode_file(br#"{"app-secret": {"value": "leaky-value-8", "expiresOn": 5}}"#)
            .err()
            .unwrap();
        assert!(e.contains("app-secret.expiresOn"), "{e}");
        assert!(!e.contains("leaky-value-8"), "{e}");
        let e = decode_file(br#"{"app-secret": {"expiresOn": null}}"#)
            .err()
            .unwrap();
        assert!(e.contains("missing field `value`"), "{e}");
        assert!(decode_file(b"  \n").unwrap().is_empty());
    }
}
