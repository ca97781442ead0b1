//! A real browser for the tests: Debian's `chromium`, headless, driven through the DevTools
//! protocol (a WebSocket, JSON commands) with `Runtime.evaluate`. Started on a free port with a
//! profile of its own, killed (and the profile removed) when dropped. Under CI
//! (`CHATD_NEED_BROWSER` set, as `.ci/run` does) a missing browser fails the test; elsewhere
//! the test says SKIPPED.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::WebSocket;

use super::DEADLINE;

pub struct Browser {
    child: Child,
    profile: PathBuf,
    ws: WebSocket<TcpStream>,
    next_id: u64,
}

/// One open page (a target the browser session is attached to).
pub struct Page {
    session: String,
}

fn binary() -> Option<PathBuf> {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

impl Browser {
    /// Starts one, or says plainly why not and returns None (the caller skips).
    pub fn start() -> Option<Browser> {
        let Some(bin) = binary() else {
            if std::env::var_os("CHATD_NEED_BROWSER").is_some() {
                panic!("chromium is not installed, and CHATD_NEED_BROWSER is set");
            }
            eprintln!("SKIPPED: chromium is not installed (apt-get install chromium)");
            return None;
        };
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let profile = std::env::temp_dir().join(format!(
            "chatd-browser-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let mut child = Command::new(bin)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");
        // It says where its DevTools listen on stderr.
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("chromium did not say where its DevTools listen");
        let addr = url
            .strip_prefix("ws://")
            .and_then(|r| r.split('/').next())
            .unwrap()
            .to_string();
        let stream = TcpStream::connect(&addr).unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let (ws, _) = tungstenite::client::client(url.as_str(), stream).expect("DevTools");
        Some(Browser {
            child,
            profile,
            ws,
            next_id: 0,
        })
    }

    /// Sends a command (in `session`, if given) and returns its result, skipping events.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.try_call(session, method, params)
            .unwrap_or_else(|error| panic!("{method}: {error}"))
    }

    /// Like [`Browser::call`]; the error DevTools answered with, if any.
    fn try_call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(tungstenite::Message::text(msg.to_string()))
            .unwrap();
        loop {
            let m = self.ws.read().expect("DevTools answers");
            let Ok(text) = m.to_text() else { continue };
            let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            if v["id"] == json!(id) {
                return match &v["error"] {
                    Value::Null => Ok(v["result"].clone()),
                    error => Err(error.clone()),
                };
            }
        }
    }

    /// Opens `url` in a new page.
    pub fn open(&mut self, url: &str) -> Page {
        let target = self.call(None, "Target.createTarget", json!({"url": url}));
        let id = target["targetId"].as_str().unwrap().to_string();
        let attached = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": id, "flatten": true}),
        );
        Page {
            session: attached["sessionId"].as_str().unwrap().to_string(),
        }
    }

    /// Evaluates `js` in `page`; its value (JSON).
    pub fn eval(&mut self, page: &Page, js: &str) -> Value {
        let r = self.call(
            Some(&page.session),
            "Runtime.evaluate",
            json!({"expression": js, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(r["exceptionDetails"].is_null(), "{js}: {r}");
        r["result"]["value"].clone()
    }

    /// Evaluates `js` until it is true, or fails after [`DEADLINE`]. An evaluation cut short
    /// by the page navigating (its first load still committing) counts as not yet.
    pub fn until(&mut self, page: &Page, what: &str, js: &str) {
        let until = Instant::now() + DEADLINE;
        loop {
            let params = json!({"expression": js, "returnByValue": true, "awaitPromise": true});
            match self.try_call(Some(&page.session), "Runtime.evaluate", params) {
                Ok(r) if r["result"]["value"] == json!(true) => return,
                Ok(r) => assert!(r["exceptionDetails"].is_null(), "{js}: {r}"),
                Err(e) if e["message"].as_str().is_some_and(navigating) => {}
                Err(e) => panic!("Runtime.evaluate: {e}"),
            }
            if Instant::now() >= until {
                let log = self.eval(page, "document.body.innerText");
                panic!("{what}: not within {DEADLINE:?}; the page says:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A PNG of `page`, `width` CSS pixels wide.
    pub fn screenshot(&mut self, page: &Page, width: u32, height: u32) -> Vec<u8> {
        self.call(
            Some(&page.session),
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}),
        );
        let shot = self.call(
            Some(&page.session),
            "Page.captureScreenshot",
            json!({"format": "png"}),
        );
        decode_base64(shot["data"].as_str().unwrap())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// DevTools' errors for an evaluation the page's navigation cut short.
fn navigating(message: &str) -> bool {
    message.contains("navigated or closed") || message.contains("Cannot find context")
}

fn decode_base64(s: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &c)| {
            acc | (u32::from(value(c)) << (18 - 6 * i))
        });
        let take = chunk.len() - 1;
        for i in 0..take {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}
