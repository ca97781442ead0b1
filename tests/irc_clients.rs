//! Real IRC clients against the IRC listener, in both modes: WeeChat (Debian's
//! `weechat-headless`), driven through its FIFO, and irssi (Debian's `irssi`, in a terminal of
//! `script`'s, driven through a file a small script of its own reads), each read through its
//! logs, join two channels and talk with an `nc` client, with SASL and without. Where a client
//! is not installed its tests say SKIPPED, unless `CHATD_NEED_IRC_CLIENTS` is set (as
//! `.ci/run` does): then they fail.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Client, DEADLINE, Mode, Server, TempDir};

both_modes!(
    weechat_joins_two_channels_and_talks_with_nc,
    weechat_logs_in_with_sasl,
    irssi_joins_two_channels_and_talks_with_nc,
    irssi_logs_in_with_sasl,
);

/// One client at a time: two WeeChats started at once were seen to leave one without a
/// connection (its logs empty).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A WeeChat of the test's, killed when dropped.
struct WeeChat {
    child: Child,
    dir: PathBuf,
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl Drop for WeeChat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl WeeChat {
    /// WeeChat connected to `server`'s IRC port as `nick`, joining `channels`, with
    /// `options` on its server (`-sasl_username=...`); `None` (the test skips) if it is not
    /// installed.
    fn start(
        server: &Server,
        dir: &Path,
        nick: &str,
        channels: &str,
        options: &str,
    ) -> Option<WeeChat> {
        if Command::new("weechat-headless")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            if std::env::var_os("CHATD_NEED_IRC_CLIENTS").is_some() {
                panic!("weechat-headless is not installed, and CHATD_NEED_IRC_CLIENTS is set");
            }
            eprintln!(
                "SKIPPED: weechat-headless is not installed (apt-get install weechat-headless)"
            );
            return None;
        }
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let addr = server.irc_addr.expect("an IRC listener");
        let logs = dir.join("logs");
        let commands = format!(
            "/server add chatd {}/{} -notls -nicks={nick} -autojoin={channels} {options};\
             /set logger.file.path {};/set logger.file.flush_delay 0;/connect chatd",
            addr.ip(),
            addr.port(),
            logs.display()
        );
        let child = Command::new("weechat-headless")
            .arg("--dir")
            .arg(dir)
            .args(["-P", "irc,logger,fifo", "--stdout", "-r", &commands])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("weechat-headless starts");
        Some(WeeChat {
            child,
            dir: dir.to_path_buf(),
            _turn: turn,
        })
    }

    /// A buffer's log (`irc.chatd.#dev`, `irc.server.chatd`), as written so far.
    fn log(&self, buffer: &str) -> String {
        std::fs::read_to_string(self.dir.join("logs").join(format!("{buffer}.weechatlog")))
            .unwrap_or_default()
    }

    /// Waits until `buffer`'s log has `want`, or fails after [`DEADLINE`]. (WeeChat writes its
    /// logs at once, `flush_delay 0`: reading them is how the test hears what it heard.)
    fn until_logged(&self, buffer: &str, want: &str) {
        until_has(|| self.log(buffer), buffer, want);
    }

    /// Types `text` in `buffer`, through WeeChat's FIFO.
    fn say(&self, buffer: &str, text: &str) {
        let until = Instant::now() + DEADLINE;
        let fifo = loop {
            let found = std::fs::read_dir(&self.dir)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .find(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("weechat_fifo"))
                });
            if let Some(fifo) = found {
                break fifo;
            }
            assert!(Instant::now() < until, "no FIFO in {}", self.dir.display());
            std::thread::sleep(Duration::from_millis(50));
        };
        std::fs::write(&fifo, format!("{buffer} *{text}\n")).unwrap();
    }
}

/// Reads `log` (a client's log of `what`) until it has `want`, or fails after [`DEADLINE`].
/// (The clients write their logs at once: reading them is how the test hears what they heard.)
fn until_has(log: impl Fn() -> String, what: &str, want: &str) {
    let until = Instant::now() + DEADLINE;
    loop {
        let log = log();
        if log.contains(want) {
            return;
        }
        assert!(
            Instant::now() < until,
            "{want:?} not in {what}'s log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An nc client named `name`, in #dev (it moves there), once `nick` is in it too.
fn nc_in_dev(server: &Server, name: &str, nick: &str) -> Client {
    let mut nc = server.client();
    nc.send(&format!("/nick {name}"));
    nc.until(&format!("* you are now {name}"));
    nc.send("/join dev");
    let until = Instant::now() + DEADLINE;
    loop {
        let lines = nc.sync_lines();
        let who = lines.last().cloned().unwrap_or_default();
        if who.starts_with("* online in #dev") && who.split([' ', ',']).any(|n| n == nick) {
            return nc;
        }
        assert!(Instant::now() < until, "{nick} never in #dev: {who}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn weechat_joins_two_channels_and_talks_with_nc(mode: Mode) {
    let dir = TempDir::new(&format!("weechat-{mode:?}"));
    let server = Server::start_with(mode, &["--irc-port", "0"]);
    let Some(wee) = WeeChat::start(&server, &dir.0, "wee", "#dev,#ops", "") else {
        return;
    };
    let mut nc = nc_in_dev(&server, "ncer", "wee");
    wee.until_logged("irc.chatd.#ops", "wee (wee@chatd) has joined #ops");
    // (ncer is in #dev by then, or comes: either way WeeChat counts two.)
    wee.until_logged("irc.chatd.#dev", "Channel #dev: 2 nicks");
    nc.send("hello from nc");
    wee.until_logged("irc.chatd.#dev", "ncer\thello from nc");
    wee.say("irc.chatd.#dev", "hello from weechat");
    nc.until("<wee> hello from weechat");
    wee.say("irc.chatd.#dev", "/me waves");
    nc.until("* wee waves");
    nc.send("/me waves back");
    wee.until_logged("irc.chatd.#dev", "ncer waves back");
    nc.send("/msg wee psst");
    wee.until_logged("irc.chatd.ncer", "ncer\tpsst");
    // What WeeChat sent that the listener did not know would show as 421 in its server log.
    assert!(
        !wee.log("irc.server.chatd").contains("Unknown command"),
        "{}",
        wee.log("irc.server.chatd")
    );
}

fn weechat_logs_in_with_sasl(mode: Mode) {
    let dir = TempDir::new(&format!("weechat-sasl-{mode:?}"));
    let server = Server::start_with(mode, &["--irc-port", "0"]);
    let mut owner = server.client();
    owner.send("/nick wee");
    owner.until("* you are now wee");
    owner.send("/register correct-horse");
    owner.until("* wee is registered: it is yours (/login wee PASSWORD takes it back)");
    owner.send("/quit");
    owner.until_closed();
    let mut watcher = server.client();
    let sasl = "-sasl_mechanism=plain -sasl_username=wee -sasl_password=correct-horse";
    let Some(wee) = WeeChat::start(&server, &dir.0, "wee", "#dev", sasl) else {
        return;
    };
    wee.until_logged("irc.server.chatd", "SASL authentication successful");
    // Announced once, under its account.
    watcher.until("* wee joined");
    let mut nc = nc_in_dev(&server, "ncer", "wee");
    nc.send("hello, account holder");
    wee.until_logged("irc.chatd.#dev", "ncer\thello, account holder");
    wee.say("irc.chatd.#dev", "logged in and talking");
    nc.until("<wee> logged in and talking");
}

/// What irssi runs at start (`scripts/autorun/`): every line the test appends to `HOME/commands`
/// as if typed, in the server's context.
const IRSSI_COMMANDS: &str = r#"use strict;
use Irssi;
my $file = Irssi::get_irssi_dir() . "/commands";
my $pos = 0;
Irssi::timeout_add(50, sub {
    open(my $fh, '<', $file) or return;
    seek($fh, $pos, 0);
    while (my $line = <$fh>) {
        last unless $line =~ /\n$/;
        $pos = tell($fh);
        chomp $line;
        next unless length $line;
        my ($server) = Irssi::servers();
        if ($server) { $server->command($line) } else { Irssi::command($line) }
    }
    close $fh;
}, undef);
"#;

/// An irssi of the test's (in a terminal of `script`'s), killed with its terminal when dropped.
struct Irssi {
    child: Child,
    dir: PathBuf,
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl Drop for Irssi {
    fn drop(&mut self) {
        // `script` and irssi, its child: the process group.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

impl Irssi {
    /// irssi connected to `server`'s IRC port as `nick`, logging in with `sasl` (name,
    /// password) if given; `None` (the test skips) if it is not installed.
    fn start(server: &Server, dir: &Path, nick: &str, sasl: Option<(&str, &str)>) -> Option<Irssi> {
        let installed = |cmd: &str| {
            Command::new("sh")
                .args(["-c", &format!("command -v {cmd}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !installed("irssi") || !installed("script") {
            if std::env::var_os("CHATD_NEED_IRC_CLIENTS").is_some() {
                panic!("irssi or script is not installed, and CHATD_NEED_IRC_CLIENTS is set");
            }
            eprintln!("SKIPPED: irssi is not installed (apt-get install irssi)");
            return None;
        }
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let addr = server.irc_addr.expect("an IRC listener");
        let sasl = sasl.map_or(String::new(), |(name, password)| {
            format!(
                "sasl_mechanism = \"PLAIN\"; sasl_username = \"{name}\"; \
                 sasl_password = \"{password}\";"
            )
        });
        // No flood pacing of its own (irssi sends one command each 2.2 s past its first 5).
        let config = format!(
            r#"servers = ( {{ address = "{}"; port = "{}"; chatnet = "chatd"; autoconnect = "yes"; use_tls = "no"; }} );
chatnets = {{ chatd = {{ type = "IRC"; {sasl} }}; }};
settings = {{
  core = {{ real_name = "irssi of the tests"; user_name = "{nick}"; nick = "{nick}"; }};
  "irc/core" = {{ cmd_queue_speed = "0msec"; cmds_max_at_once = "1000"; }};
  "fe-common/core" = {{ autolog = "yes"; autolog_path = "{}/logs/$0.log"; autolog_level = "all"; }};
}};
"#,
            addr.ip(),
            addr.port(),
            dir.display()
        );
        std::fs::create_dir_all(dir.join("scripts/autorun")).unwrap();
        std::fs::write(dir.join("scripts/autorun/commands.pl"), IRSSI_COMMANDS).unwrap();
        std::fs::write(dir.join("config"), config).unwrap();
        let line = format!(
            "stty cols 160 rows 50; exec irssi --home={0} --config={0}/config",
            dir.display()
        );
        use std::os::unix::process::CommandExt;
        let child = Command::new("script")
            .args(["-q", "-c", &line, "/dev/null"])
            .env("TERM", "xterm")
            .process_group(0)
            // Kept open and never written: at its end, irssi would quit.
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("script starts");
        Some(Irssi {
            child,
            dir: dir.to_path_buf(),
            _turn: turn,
        })
    }

    /// A window's log (`#dev`, `ncer`), as written so far.
    fn log(&self, window: &str) -> String {
        std::fs::read_to_string(self.dir.join("logs").join(format!("{window}.log")))
            .unwrap_or_default()
    }

    /// Waits until `window`'s log has `want`, or fails after [`DEADLINE`].
    fn until_logged(&self, window: &str, want: &str) {
        until_has(|| self.log(window), window, want);
    }

    /// Runs `command` as if typed (`/msg #dev hi`).
    fn run(&self, command: &str) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("commands"))
            .unwrap();
        file.write_all(format!("{command}\n").as_bytes()).unwrap();
    }
}

fn irssi_joins_two_channels_and_talks_with_nc(mode: Mode) {
    let dir = TempDir::new(&format!("irssi-{mode:?}"));
    let server = Server::start_with(mode, &["--irc-port", "0"]);
    let Some(irssi) = Irssi::start(&server, &dir.0, "irs", None) else {
        return;
    };
    irssi.until_logged("#lobby", "irs [irs@chatd] has joined #lobby");
    irssi.run("/join #dev,#ops");
    let mut nc = nc_in_dev(&server, "ncer", "irs");
    irssi.until_logged("#ops", "irs [irs@chatd] has joined #ops");
    nc.send("hello from nc");
    irssi.until_logged("#dev", "< ncer> hello from nc");
    irssi.run("/msg #dev hello from irssi");
    nc.until("<irs> hello from irssi");
    irssi.run("/action #dev waves");
    nc.until("* irs waves");
    nc.send("/me waves back");
    irssi.until_logged("#dev", "* ncer waves back");
    nc.send("/msg irs psst");
    irssi.until_logged("ncer", "<ncer> psst");
    irssi.run("/msg ncer psst back");
    nc.until("*irs* psst back");
}

fn irssi_logs_in_with_sasl(mode: Mode) {
    let dir = TempDir::new(&format!("irssi-sasl-{mode:?}"));
    let server = Server::start_with(mode, &["--irc-port", "0"]);
    let mut owner = server.client();
    owner.send("/nick irs");
    owner.until("* you are now irs");
    owner.send("/register correct-horse");
    owner.until("* irs is registered: it is yours (/login irs PASSWORD takes it back)");
    owner.send("/quit");
    owner.until_closed();
    let mut watcher = server.client();
    let Some(irssi) = Irssi::start(&server, &dir.0, "irs", Some(("irs", "correct-horse"))) else {
        return;
    };
    // Announced once, under its account.
    watcher.until("* irs joined");
    irssi.until_logged("#lobby", "irs [irs@chatd] has joined #lobby");
    irssi.run("/join #dev");
    let mut nc = nc_in_dev(&server, "ncer", "irs");
    nc.send("hello, account holder");
    irssi.until_logged("#dev", "< ncer> hello, account holder");
    irssi.run("/msg #dev logged in and talking");
    nc.until("<irs> logged in and talking");
}
