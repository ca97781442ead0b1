//! A nats-server of the test's own: JetStream on, a temporary store, a free port on 127.0.0.1.
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
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
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
