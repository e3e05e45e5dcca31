//! A small W3C WebDriver client over `reqwest`, for the console's browser tests: it starts
//! Debian's `chromedriver` on a free port with a headless Chromium, and drives one session
//! (navigate, find, type, click, read text, run a script, take screenshots).
//!
//! Without `chromedriver` and `chromium` on the machine, [`Browser::start`] prints
//! `SKIPPED: …` and answers `None` (`.ci/run` installs both).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

/// The key W3C WebDriver names element references with.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn which(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain([
        PathBuf::from("/usr/bin"),
        PathBuf::from("/usr/lib/chromium"),
    ]) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// A headless Chromium driven through chromedriver; both end when it is dropped.
pub struct Browser {
    driver: Child,
    http: reqwest::Client,
    base: String,
    session: String,
    _profile: tempfile::TempDir,
}

/// An element of the page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// Starts chromedriver and a browser session, or says SKIPPED and answers `None`.
    pub async fn start(test: &str) -> Option<Browser> {
        let (Some(driver), Some(chromium)) = (
            which(&["chromedriver"]),
            which(&["chromium", "chromium-browser", "google-chrome"]),
        ) else {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: chromium and chromedriver not installed ({test}; \
                 apt-get install chromium chromium-driver)"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let mut ready = false;
        for _ in 0..200 {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ready, "chromedriver did not become ready");
        let profile = tempfile::tempdir().expect("profile dir");
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }}}});
        let mut b = Browser {
            driver: child,
            http,
            base,
            session: String::new(),
            _profile: profile,
        };
        let v = b.call(reqwest::Method::POST, "/session", Some(caps)).await;
        b.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("new session: {v}"))
            .to_owned();
        Some(b)
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{method} {path}: {status} {v}");
        v["value"].clone()
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    pub async fn goto(&self, url: &str) {
        self.call(
            reqwest::Method::POST,
            &self.s("/url"),
            Some(json!({"url": url})),
        )
        .await;
    }

    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, &self.s("/url"), None)
            .await
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// What the session's `endpoint` (`/element`, `/elements`) answers for a CSS selector.
    async fn by_css(&self, endpoint: &str, css: &str) -> Value {
        let by = json!({"using": "css selector", "value": css});
        self.call(reqwest::Method::POST, &self.s(endpoint), Some(by))
            .await
    }

    /// The first element matching a CSS selector (panics when there is none).
    pub async fn find(&self, css: &str) -> Element {
        let v = self.by_css("/element", css).await;
        Element(
            v[ELEMENT]
                .as_str()
                .unwrap_or_else(|| panic!("no element {css}: {v}"))
                .to_owned(),
        )
    }

    /// How many elements match a CSS selector.
    pub async fn count(&self, css: &str) -> usize {
        let v = self.by_css("/elements", css).await;
        v.as_array().map_or(0, Vec::len)
    }

    pub async fn type_into(&self, e: &Element, text: &str) {
        self.call(
            reqwest::Method::POST,
            &self.s(&format!("/element/{}/value", e.0)),
            Some(json!({"text": text})),
        )
        .await;
    }

    pub async fn click(&self, e: &Element) {
        self.call(
            reqwest::Method::POST,
            &self.s(&format!("/element/{}/click", e.0)),
            Some(json!({})),
        )
        .await;
    }

    /// Clicks something that loads a new page (a link, a submit button) and waits until the
    /// new page has loaded, so what is read next is not the old page.
    pub async fn click_to_load(&self, e: &Element) {
        self.script("window.__leaving = true;", vec![]).await;
        self.click(e).await;
        for _ in 0..400 {
            let v = self
                .script(
                    "return window.__leaving === undefined && document.readyState === 'complete';",
                    vec![],
                )
                .await;
            if v == Value::Bool(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the page did not change after the click");
    }

    /// The visible text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let e = self.find(css).await;
        let v = self
            .call(
                reqwest::Method::GET,
                &self.s(&format!("/element/{}/text", e.0)),
                None,
            )
            .await;
        v.as_str().unwrap_or("").to_owned()
    }

    /// Runs a script in the page with `args`; answers its result.
    pub async fn script(&self, js: &str, args: Vec<Value>) -> Value {
        self.call(
            reqwest::Method::POST,
            &self.s("/execute/sync"),
            Some(json!({"script": js, "args": args})),
        )
        .await
    }

    /// Saves a PNG of the window into `$ITSM_BRIDGE_SCREENSHOTS/<name>.png` when that variable
    /// names a folder (`docs/console` for the docs); does nothing otherwise.
    pub async fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("ITSM_BRIDGE_SCREENSHOTS") else {
            return;
        };
        let v = self
            .call(reqwest::Method::GET, &self.s("/screenshot"), None)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or(""))
            .expect("screenshot is base64");
        let dir = Path::new(&dir);
        std::fs::create_dir_all(dir).expect("screenshot folder");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot written");
    }

    /// Signs in to the console at `base` with `token`, through the sign-in form.
    pub async fn sign_in(&self, base: &str, token: &str) {
        self.goto(&format!("{base}/console")).await;
        assert!(
            self.url().await.ends_with("/console/sign-in"),
            "sent to sign in"
        );
        let field = self.find("#token").await;
        self.type_into(&field, token).await;
        let button = self.find("form.sign-in button").await;
        self.click_to_load(&button).await;
        let url = self.url().await;
        assert!(
            url.ends_with("/console"),
            "signed in: {url}: {}",
            self.text("body").await
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closing the session ends Chromium, then the driver goes. A destructor cannot await,
        // so the DELETE is written by hand on a plain socket (best effort).
        use std::io::{Read, Write};
        let host = self.base.trim_start_matches("http://");
        if let Ok(mut c) = std::net::TcpStream::connect(host) {
            let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                c,
                "DELETE /session/{} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session
            );
            let _ = c.read_to_end(&mut Vec::new());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
