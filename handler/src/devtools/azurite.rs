//! Starts a private Azurite (the Azure Storage emulator: blob, queue and
//! table services, in memory) on free loopback ports, for the tests and the
//! store benchmark. The process is killed when the [`Azurite`] value drops.
//!
//! [`Azurite::start_persistent`] keeps the data on disk instead (in the
//! scratch directory), so that the outage tests can [`Azurite::stop`] it
//! mid-run and [`Azurite::restart`] it on the same ports with the same data.
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
    /// None while stopped.
    child: Option<Child>,
    exe: PathBuf,
    /// (blob, queue, table)
    ports: (u16, u16, u16),
    /// Keeps the data in `<dir>/data` (restartable) instead of in memory.
    persistent: bool,
    /// Scratch directory (working directory, the log, the data when
    /// persistent); removed on drop.
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
    /// Starts Azurite (in memory) and waits (up to 30 s) until its table
    /// and queue services accept connections.
    pub fn start() -> Result<Azurite, AzuriteError> {
        Self::start_with(false)
    }

    /// Starts Azurite keeping its data on disk (in its scratch directory),
    /// so that it can be stopped and restarted on the same ports with the
    /// same data ([`Azurite::stop`], [`Azurite::restart`]).
    pub fn start_persistent() -> Result<Azurite, AzuriteError> {
        Self::start_with(true)
    }

    fn start_with(persistent: bool) -> Result<Azurite, AzuriteError> {
        let exe = find()?;
        let mut last = String::new();
        // A port picked free can be taken before Azurite binds it: retry.
        for _ in 0..3 {
            match Self::start_once(&exe, persistent) {
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

    fn fail(&self, reason: String) -> AzuriteError {
        AzuriteError::Start {
            path: self.exe.clone(),
            reason,
        }
    }

    fn start_once(exe: &Path, persistent: bool) -> Result<Azurite, AzuriteError> {
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
        let ep = |p: u16| format!("http://127.0.0.1:{p}/{DEV_ACCOUNT}");
        let mut me = Azurite {
            child: None,
            exe: exe.to_path_buf(),
            ports: (blob, queue, table),
            persistent,
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
        me.spawn()?;
        Ok(me)
    }

    /// Spawns the process on `self.ports` and waits until it answers.
    fn spawn(&mut self) -> Result<(), AzuriteError> {
        let (blob, queue, table) = self.ports;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("azurite.log"))
            .map_err(|e| self.fail(format!("log file: {e}")))?;
        let log2 = log
            .try_clone()
            .map_err(|e| self.fail(format!("log file: {e}")))?;
        let mut cmd = Command::new(&self.exe);
        if self.persistent {
            cmd.arg("--location").arg(self.dir.join("data"));
        } else {
            cmd.arg("--inMemoryPersistence");
        }
        let child = cmd
            .args(["--skipApiVersionCheck", "--loose"])
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
            // Run in the scratch dir so nothing lands in the caller's
            // directory (--location is refused with --inMemoryPersistence).
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .spawn()
            .map_err(|e| self.fail(format!("spawn failed: {e} (is Node.js installed?)")))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if answers(table) && answers(queue) {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Err(self.fail(format!("exited with {status}: {}", self.log_tail())));
            }
            if Instant::now() > deadline {
                return Err(self.fail(format!("did not answer within 30 s: {}", self.log_tail())));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops Azurite as a service stops: SIGTERM (it closes its servers and
    /// saves its data), waiting up to 10 s before killing it. Its ports
    /// refuse connections until [`Azurite::restart`].
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts a stopped Azurite again on the same ports (with the same data
    /// when started with [`Azurite::start_persistent`]).
    pub fn restart(&mut self) -> Result<(), AzuriteError> {
        self.stop();
        self.spawn()
    }

    /// Whether the process is running (not stopped).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
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
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
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
