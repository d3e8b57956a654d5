//! Starts a private Azurite (the Azure Storage emulator: blob, queue and
//! table services, in memory) on free loopback ports, for the tests and the
//! store benchmark. The process is killed when the [`Azurite`] value drops.
//!
//! Where Azurite is looked for, in order: `$AZURITE_DIR` (the `azurite`
//! script itself, or a directory holding it directly, in `.bin/` or in
//! `node_modules/.bin/`), `<dir>/.tools/node_modules/.bin/azurite` for the
//! current directory and the source checkout, then `PATH`. Install it with
//! `npm install --prefix .tools azurite` at the repository root.
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::store::table::client::{DEV_ACCOUNT, DEV_KEY};

/// How to get Azurite, for error messages.
pub const INSTALL_HINT: &str = "install it at the repository root with `npm install --prefix .tools azurite` (or set AZURITE_DIR to its directory, or put `azurite` on PATH)";

/// Why Azurite could not be started.
#[derive(Debug, thiserror::Error)]
pub enum AzuriteError {
    #[error("Azurite was not found: {INSTALL_HINT}")]
    NotFound,
    #[error("Azurite could not be started from {path}: {reason}")]
    Start { path: PathBuf, reason: String },
}

/// A running Azurite; killed on drop.
pub struct Azurite {
    child: Child,
    /// Scratch directory (working directory, the log); removed on drop.
    dir: PathBuf,
    /// A connection string for all three services (the well-known account).
    pub connection_string: String,
    /// `http://127.0.0.1:<port>/devstoreaccount1`
    pub table_endpoint: String,
    pub queue_endpoint: String,
    pub blob_endpoint: String,
}

impl std::fmt::Debug for Azurite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Azurite(table {}, queue {})",
            self.table_endpoint, self.queue_endpoint
        )
    }
}

fn candidates_in(dir: &Path) -> [PathBuf; 4] {
    [
        dir.to_path_buf(),
        dir.join("azurite"),
        dir.join(".bin").join("azurite"),
        dir.join("node_modules").join(".bin").join("azurite"),
    ]
}

/// Finds the `azurite` executable (see the module doc for the order).
pub fn find() -> Result<PathBuf, AzuriteError> {
    let is_exe = |p: &Path| p.is_file();
    if let Some(d) = std::env::var_os("AZURITE_DIR") {
        if let Some(p) = candidates_in(Path::new(&d)).into_iter().find(|p| is_exe(p)) {
            return Ok(p);
        }
    }
    let mut roots = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    roots.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    for r in roots {
        let p = r
            .join(".tools")
            .join("node_modules")
            .join(".bin")
            .join("azurite");
        if is_exe(&p) {
            return Ok(p);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            let p = d.join("azurite");
            if is_exe(&p) {
                return Ok(p);
            }
        }
    }
    Err(AzuriteError::NotFound)
}

fn free_port() -> std::io::Result<u16> {
    // Bind port 0, read the port the OS chose, release it for Azurite.
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn answers(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

impl Azurite {
    /// Starts Azurite and waits (up to 30 s) until its table and queue
    /// services accept connections.
    pub fn start() -> Result<Azurite, AzuriteError> {
        let exe = find()?;
        let mut last = String::new();
        // A port picked free can be taken before Azurite binds it: retry.
        for _ in 0..3 {
            match Self::start_once(&exe) {
                Ok(a) => return Ok(a),
                Err(AzuriteError::Start { reason, .. }) => last = reason,
                Err(e) => return Err(e),
            }
        }
        Err(AzuriteError::Start {
            path: exe,
            reason: last,
        })
    }

    fn start_once(exe: &Path) -> Result<Azurite, AzuriteError> {
        let fail = |reason: String| AzuriteError::Start {
            path: exe.to_path_buf(),
            reason,
        };
        let ports = (free_port(), free_port(), free_port());
        let (blob, queue, table) = match ports {
            (Ok(b), Ok(q), Ok(t)) if b != q && q != t && b != t => (b, q, t),
            _ => return Err(fail("no free loopback ports".into())),
        };
        let dir = std::env::temp_dir().join(format!("azurite-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).map_err(|e| fail(format!("scratch dir: {e}")))?;
        let log = std::fs::File::create(dir.join("azurite.log"))
            .map_err(|e| fail(format!("log file: {e}")))?;
        let log2 = log
            .try_clone()
            .map_err(|e| fail(format!("log file: {e}")))?;
        let child = Command::new(exe)
            .args(["--inMemoryPersistence", "--skipApiVersionCheck", "--loose"])
            // No telemetry leaves the machine (Azurite sends some by default).
            .arg("--disableTelemetry")
            .args(["--blobHost", "127.0.0.1", "--blobPort", &blob.to_string()])
            .args([
                "--queueHost",
                "127.0.0.1",
                "--queuePort",
                &queue.to_string(),
            ])
            .args([
                "--tableHost",
                "127.0.0.1",
                "--tablePort",
                &table.to_string(),
            ])
            // --location is refused with --inMemoryPersistence; run in the
            // scratch dir so nothing lands in the caller's directory.
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .spawn()
            .map_err(|e| fail(format!("spawn failed: {e} (is Node.js installed?)")))?;
        let ep = |p: u16| format!("http://127.0.0.1:{p}/{DEV_ACCOUNT}");
        let mut me = Azurite {
            child,
            connection_string: format!(
                "DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};BlobEndpoint={};QueueEndpoint={};TableEndpoint={};",
                ep(blob),
                ep(queue),
                ep(table)
            ),
            table_endpoint: ep(table),
            queue_endpoint: ep(queue),
            blob_endpoint: ep(blob),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if answers(table) && answers(queue) {
                return Ok(me);
            }
            if let Ok(Some(status)) = me.child.try_wait() {
                return Err(fail(format!("exited with {status}: {}", me.log_tail())));
            }
            if Instant::now() > deadline {
                return Err(fail(format!(
                    "did not answer within 30 s: {}",
                    me.log_tail()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(self.dir.join("azurite.log")) {
            let _ = f.read_to_string(&mut s);
        }
        let start = s.len().saturating_sub(800);
        s.get(start..).unwrap_or("").trim().to_string()
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The not-found error tells how to install Azurite, so a missing
    /// emulator fails a test with a fix rather than a bare error.
    #[test]
    fn not_found_names_the_install_command() {
        let m = AzuriteError::NotFound.to_string();
        assert!(m.contains("npm install --prefix .tools azurite"), "{m}");
    }
}
