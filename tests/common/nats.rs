//! A nats-server of the test's own: JetStream on, a temporary store, a free port on 127.0.0.1
//! (and one for its monitoring, which says what each connection subscribes to and receives).
//! Stopped (and its store removed) when dropped.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::DEADLINE;

pub struct Nats {
    child: Option<Child>,
    pub port: u16,
    /// Its HTTP monitoring port.
    monitor: u16,
    store: PathBuf,
    /// nats-server's configuration (users, TLS), if the test gave one.
    conf: Option<PathBuf>,
}

/// Where nats-server is, if it is installed.
fn binary() -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/usr/local/bin", "/usr/bin"])
        .map(|dir| PathBuf::from(dir).join("nats-server"))
        .find(|p| p.is_file())
}

impl Nats {
    /// Starts one, or says plainly why not and returns None (the caller skips). Under CI
    /// (`CHATD_NEED_NATS` set, as `.ci/run` does) a missing nats-server fails the test instead.
    pub fn start() -> Option<Nats> {
        let mut nats = Nats::reserve()?;
        nats.restart();
        Some(nats)
    }

    /// Starts one with `conf` as its configuration file's text (authorization, TLS); the port,
    /// the store and JetStream are given on the command line as for [`Nats::start`].
    pub fn start_with_config(conf: &str) -> Option<Nats> {
        let mut nats = Nats::reserve()?;
        let path = nats.store.with_extension("conf");
        std::fs::write(&path, conf).unwrap();
        nats.conf = Some(path);
        nats.restart();
        Some(nats)
    }

    /// A port and a store for one, not started yet (see [`Nats::restart`]); None as
    /// [`Nats::start`].
    pub fn reserve() -> Option<Nats> {
        let Some(bin) = binary() else {
            if std::env::var_os("CHATD_NEED_NATS").is_some() {
                panic!("nats-server is not installed, and CHATD_NEED_NATS is set");
            }
            eprintln!("SKIPPED: nats-server is not installed (apt-get install nats-server)");
            return None;
        };
        let free = || {
            TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let (port, monitor) = (free(), free());
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let store = std::env::temp_dir().join(format!(
            "chatd-nats-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = bin;
        Some(Nats {
            child: None,
            port,
            monitor,
            store,
            conf: None,
        })
    }

    // The child is returned, and killed and waited for by `kill` (and so by `Drop`).
    #[allow(clippy::zombie_processes)]
    fn spawn(&self, bin: &PathBuf) -> Child {
        std::fs::create_dir_all(&self.store).unwrap();
        let mut cmd = Command::new(bin);
        if let Some(conf) = &self.conf {
            cmd.arg("-c").arg(conf);
        }
        let mut child = cmd
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-m",
                &self.monitor.to_string(),
                "-sd",
            ])
            .arg(&self.store)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nats-server");
        // Ready once it greets a client with INFO.
        let until = Instant::now() + DEADLINE;
        loop {
            if let Ok(s) = TcpStream::connect(self.addr()) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                let mut line = String::new();
                if BufReader::new(s).read_line(&mut line).is_ok() && line.starts_with("INFO") {
                    return child;
                }
            }
            if Instant::now() >= until {
                let _ = child.kill();
                let _ = child.wait();
                panic!("nats-server did not start");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL): the broker is gone at once.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it (again) on its port and store.
    pub fn restart(&mut self) {
        self.kill();
        let bin = binary().unwrap();
        self.child = Some(self.spawn(&bin));
    }

    /// What the monitoring's `path` answers.
    fn monitoring(&self, path: &str) -> serde_json::Value {
        let mut s = TcpStream::connect(("127.0.0.1", self.monitor)).unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut s, &mut text).unwrap();
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
    }

    /// How many chat lines the clusters' history streams hold.
    pub fn stored_lines(&self) -> u64 {
        let jsz = self.monitoring("/jsz?streams=true");
        let accounts = jsz["account_details"].as_array().into_iter().flatten();
        accounts
            .flat_map(|a| a["stream_detail"].as_array().into_iter().flatten())
            .filter(|s| {
                s["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("chatd_history_"))
            })
            .filter_map(|s| s["state"]["messages"].as_u64())
            .sum()
    }

    /// The limits of the history stream (lines a room, age in ns, bytes), once it is made.
    pub fn history_limits(&self) -> Option<(i64, u64, i64)> {
        let jsz = self.monitoring("/jsz?streams=true&config=true");
        let accounts = jsz["account_details"].as_array().into_iter().flatten();
        let stream = accounts
            .flat_map(|a| a["stream_detail"].as_array().into_iter().flatten())
            .find(|s| {
                s["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("chatd_history_"))
            })?;
        let c = &stream["config"];
        Some((
            c["max_msgs_per_subject"].as_i64()?,
            c["max_age"].as_u64()?,
            c["max_bytes"].as_i64()?,
        ))
    }

    /// The chatd nodes connected, as the broker sees them: each one's subscriptions and the
    /// number of messages the broker sent it.
    pub fn nodes(&self) -> Vec<Link> {
        let connz = self.monitoring("/connz?subs=1&limit=1000");
        connz["connections"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| {
                c["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("chatd node "))
            })
            .map(|c| Link {
                name: c["name"].as_str().unwrap_or_default().to_string(),
                subjects: c["subscriptions_list"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect(),
                received: c["out_msgs"].as_u64().unwrap_or(0),
            })
            .collect()
    }

    /// Publishes raw bytes on `subject`, as any client of the broker may.
    pub fn publish_raw(&self, subject: &str, payload: &[u8]) {
        if let Err(e) = self.publish_as("", subject, payload) {
            panic!("nats-server refused a publish: {e}");
        }
    }

    /// Publishes raw bytes on `subject` as the client `auth` says (CONNECT's fields, e.g.
    /// `"user":"u","pass":"p",`); the broker's `-ERR`, if it refused.
    pub fn publish_as(&self, auth: &str, subject: &str, payload: &[u8]) -> Result<(), String> {
        let mut s = TcpStream::connect(self.addr()).unwrap();
        let mut msg = format!(
            "CONNECT {{{auth}\"verbose\":false}}\r\nPUB {subject} {}\r\n",
            payload.len()
        )
        .into_bytes();
        msg.extend_from_slice(payload);
        msg.extend_from_slice(b"\r\nPING\r\n");
        let _ = s.write_all(&msg);
        // Wait for the PONG: everything before it was taken, or refused with -ERR.
        let _ = s.set_read_timeout(Some(DEADLINE));
        let mut reader = BufReader::new(s);
        let mut line = String::new();
        let (mut refused, mut pong) = (None, false);
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            if line.starts_with("-ERR") {
                refused = Some(line.trim().to_string());
            }
            if line.starts_with("PONG") {
                pong = true;
                break;
            }
            line.clear();
        }
        match (refused, pong) {
            (Some(err), _) => Err(err),
            (None, true) => Ok(()),
            (None, false) => Err("no PONG from nats-server".into()),
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.store);
        if let Some(conf) = &self.conf {
            let _ = std::fs::remove_file(conf);
        }
    }
}

/// A chatd node's connection, as the broker's monitoring shows it.
#[derive(Debug)]
pub struct Link {
    /// `chatd node ID`.
    pub name: String,
    pub subjects: Vec<String>,
    /// Messages the broker sent it.
    pub received: u64,
}

impl Link {
    pub fn follows(&self, suffix: &str) -> bool {
        self.subjects.iter().any(|s| s.ends_with(suffix))
    }
}
