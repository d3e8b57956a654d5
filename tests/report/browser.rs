//! Headless Chromium driver for the dashboard tests, with no extra
//! dependencies: the page is served by a tiny local HTTP server that also
//! acts as Chromium's proxy, so every request the page makes (to the server
//! itself or anywhere else) is seen and recorded; console messages come from
//! Chromium's own log (`--enable-logging=stderr`); the DOM after scripts ran
//! comes from `--dump-dom`; screenshots from `--screenshot`.
//!
//! A missing Chromium fails the test with how to install it: it never skips.
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Hosts Chromium contacts on its own (component updater, account service)
/// even with background networking disabled. They are the browser's
/// housekeeping, not requests made by the page; any other host is.
/// (`clients2.google.com/time` is the network time service;
/// `content-autofill.googleapis.com` the autofill service a page with form
/// fields wakes, also switched off by flag.)
const BROWSER_SERVICE_HOSTS: [&str; 4] = [
    "update.googleapis.com",
    "accounts.google.com",
    "clients2.google.com",
    "content-autofill.googleapis.com",
];

/// The Chromium binary: `$GUESTSYNC_CHROMIUM`, else the first of
/// chromium / chromium-browser / google-chrome on PATH. Panics with
/// installation instructions when none is found.
pub fn chromium() -> PathBuf {
    if let Ok(p) = std::env::var("GUESTSYNC_CHROMIUM") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "headless Chromium is required for the dashboard tests and was not found on PATH.\n\
         Install it: `apt-get update && apt-get install -y chromium` (Debian; CI does this in scripts/test),\n\
         or set GUESTSYNC_CHROMIUM to a Chromium/Chrome binary."
    );
}

/// Where screenshots go (gitignored `test-artifacts/report/`).
pub fn artifacts_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("test-artifacts/report");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// What one page load showed.
#[derive(Debug)]
pub struct Loaded {
    /// The serialized DOM after the page's scripts ran.
    pub dom: String,
    /// Console messages (errors, warnings, logs, CSP violations).
    pub console: Vec<String>,
    /// Request lines the page caused, beyond the page itself.
    pub extra_requests: Vec<String>,
    /// Whether the page itself was fetched.
    pub page_fetched: bool,
}

/// A one-page HTTP server that is also the browser's proxy.
struct PageServer {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PageServer {
    fn start(body: String) -> PageServer {
        let body = Arc::new(body);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (req, st) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut c) = conn else { continue };
                let (req, body) = (req.clone(), body.clone());
                // One thread per connection: an idle preconnected socket must
                // not hold up the page's own request.
                std::thread::spawn(move || {
                    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut buf = vec![0u8; 16 * 1024];
                    let n = c.read(&mut buf).unwrap_or(0);
                    let head = String::from_utf8_lossy(&buf[..n]).to_string();
                    let line = head.lines().next().unwrap_or("").to_string();
                    if line.is_empty() {
                        return; // a preconnected socket closed unused
                    }
                    req.lock().unwrap().push(line.clone());
                    let resp = if line.starts_with("GET /dashboard.html ") {
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                            body.len(),
                            body
                        )
                    } else {
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_string()
                    };
                    let _ = c.write_all(resp.as_bytes());
                });
            }
        });
        PageServer {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The flags for this closed network, plus a fresh profile directory.
fn base_command(profile: &Path) -> Command {
    let mut c = Command::new(chromium());
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--disable-domain-reliability",
        "--disable-client-side-phishing-detection",
        "--no-pings",
        "--hide-scrollbars",
        "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,Translate,MediaRouter,AutofillServerCommunication",
    ]);
    c.arg(format!("--user-data-dir={}", profile.display()));
    c
}

fn run(mut c: Command) -> (String, String) {
    let out = c.output().unwrap_or_else(|e| {
        panic!("could not start Chromium ({e}); install it with `apt-get install -y chromium`")
    });
    (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Loads `html` over HTTP in a `width`-pixel-wide window and returns the DOM,
/// console messages and every request beyond the page.
pub fn load(html: &str, width: u32) -> Loaded {
    load_at(html, width, "")
}

/// [`load`] with a URL fragment (`#...`) appended to the page's address.
pub fn load_at(html: &str, width: u32, fragment: &str) -> Loaded {
    let server = PageServer::start(html.to_string());
    let profile = tempfile::tempdir().unwrap();
    let mut c = base_command(profile.path());
    c.arg("--enable-logging=stderr")
        .arg("--v=0")
        .arg(format!("--window-size={width},900"))
        .arg(format!("--proxy-server=http://127.0.0.1:{}", server.port))
        .arg("--dump-dom")
        .arg(format!(
            "http://127.0.0.1:{}/dashboard.html{fragment}",
            server.port
        ));
    let (dom, stderr) = run(c);
    let console = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    let requests = server.requests.lock().unwrap().clone();
    drop(server);
    let page_line = "GET /dashboard.html ";
    Loaded {
        page_fetched: requests.iter().any(|r| r.starts_with(page_line)),
        extra_requests: requests
            .into_iter()
            .filter(|r| !r.starts_with(page_line) && !is_browser_service(r))
            .collect(),
        dom,
        console,
    }
}

/// Saves a full-page screenshot of `html` at `width` pixels to
/// `artifacts_dir()/<name>.png` and returns its path.
pub fn screenshot(html: &str, name: &str, width: u32, height: u32) -> PathBuf {
    screenshot_in(&artifacts_dir(), html, name, (width, height), "")
}

/// Writes `html` to `dir/<name>.html`, opens it at `fragment` in a window
/// of `size` pixels and saves the screenshot to `dir/<name>.png`.
fn screenshot_in(dir: &Path, html: &str, name: &str, size: (u32, u32), fragment: &str) -> PathBuf {
    let page = dir.join(format!("{name}.html"));
    std::fs::write(&page, html).unwrap();
    let png = dir.join(format!("{name}.png"));
    let _ = std::fs::remove_file(&png);
    let profile = tempfile::tempdir().unwrap();
    let mut c = base_command(profile.path());
    c.arg(format!("--window-size={},{}", size.0, size.1))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}{fragment}", page.display()));
    let (_, stderr) = run(c);
    assert!(
        png.is_file() && std::fs::metadata(&png).unwrap().len() > 1000,
        "no screenshot written to {}; Chromium said:\n{stderr}",
        png.display()
    );
    png
}

/// Where the dashboard screenshots are kept: `target/screenshots/` (under
/// `$CARGO_TARGET_DIR` when set).
pub fn screenshots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let d = target.join("screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Saves a screenshot of `html` opened at `fragment` (`#...`, may be empty),
/// `width` x `height` pixels, to `screenshots_dir()/<name>.png`.
pub fn screenshot_at(html: &str, name: &str, width: u32, height: u32, fragment: &str) -> PathBuf {
    screenshot_in(&screenshots_dir(), html, name, (width, height), fragment)
}

/// The opening tag of the element whose `id` attribute is `id`.
pub fn tag_by_id<'a>(dom: &'a str, id: &str) -> Option<&'a str> {
    let key = format!(" id=\"{id}\"");
    let at = dom.find(&key)?;
    let start = dom[..at].rfind('<')?;
    let end = at + dom[at..].find('>')?;
    Some(&dom[start..=end])
}

/// The inner HTML of the first element whose `id` is `id` (up to the first
/// closing tag of the same name; enough for elements without nested
/// same-name children).
pub fn inner_by_id<'a>(dom: &'a str, id: &str, tag: &str) -> Option<&'a str> {
    let open = tag_by_id(dom, id)?;
    let start = dom.find(open)? + open.len();
    let end = start + dom[start..].find(&format!("</{tag}>"))?;
    Some(&dom[start..end])
}

/// The element carrying `data-testid="id"`: its `data-value` attribute if
/// present, else its text (up to the next tag), HTML entities decoded.
pub fn testid(dom: &str, id: &str) -> Option<String> {
    let key = format!("data-testid=\"{id}\"");
    let at = dom.find(&key)?;
    let tag_start = dom[..at].rfind('<')?;
    let tag_end = at + dom[at..].find('>')?;
    let tag = &dom[tag_start..tag_end];
    if let Some(v) = tag.find("data-value=\"") {
        let rest = &tag[v + 12..];
        return Some(unescape(&rest[..rest.find('"')?]));
    }
    text_after(dom, tag_end)
}

/// The visible text of the element carrying `data-testid="id"` (up to its
/// first child tag), entities decoded.
pub fn testid_text(dom: &str, id: &str) -> Option<String> {
    let key = format!("data-testid=\"{id}\"");
    let at = dom.find(&key)?;
    let tag_end = at + dom[at..].find('>')?;
    text_after(dom, tag_end)
}

fn text_after(dom: &str, tag_end: usize) -> Option<String> {
    let rest = &dom[tag_end + 1..];
    Some(unescape(&rest[..rest.find('<')?]))
}

/// Decodes the entities Chromium's serializer writes.
pub fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// An attribute of `<body>` in the dumped DOM.
pub fn body_attr(dom: &str, name: &str) -> Option<String> {
    let start = dom.find("<body")?;
    let end = start + dom[start..].find('>')?;
    let tag = &dom[start..end];
    let key = format!(" {name}=\"");
    let v = tag.find(&key)? + key.len();
    Some(tag[v..v + tag[v..].find('"')?].to_string())
}

/// Whether a recorded request line was made by the browser itself.
pub fn is_browser_service(line: &str) -> bool {
    BROWSER_SERVICE_HOSTS.iter().any(|h| line.contains(h))
}
