//! `--config FILE` over a real server, in both concurrency models: the file's settings take
//! effect, a flag overrides one, and a bad file stops chatd at start with one line naming the
//! key and its line; SIGHUP reads it again.

mod common;

use std::process::{Command, Stdio};

use std::time::{Duration, Instant};

use common::{DEADLINE, Mode, Server, signal};

both_modes!(
    a_config_file_sets_what_flags_set,
    a_bad_config_file_is_refused_at_start,
    sighup_reloads_the_limits,
    sighup_changes_the_line_rate_of_clients_already_in,
    sighup_lowering_the_history_shows_fewer_lines_at_once,
);

fn file(name: &str, text: &str) -> std::path::PathBuf {
    let path =
        std::env::temp_dir().join(format!("chatd-config-{}-{name}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

fn a_config_file_sets_what_flags_set(mode: Mode) {
    let path = file(
        &format!("good-{}", mode.flag()),
        "history = 2\nmax_line = 64\n",
    );
    let config = path.display().to_string();
    // The flag wins over the file's history.
    let server = Server::start_with(mode, &["--config", &config, "--history", "1"]);
    let mut a = server.client();
    a.send(&"x".repeat(65));
    assert_eq!(a.line(), "! line too long (max 64 bytes)");
    a.send("one");
    a.send("two");
    a.sync();
    let mut b = server.client();
    b.send("/history");
    assert_eq!(b.line(), "* history of #lobby: 1 line");
    let _ = std::fs::remove_file(path);
}

fn a_bad_config_file_is_refused_at_start(mode: Mode) {
    let path = file(
        &format!("bad-{}", mode.flag()),
        "port = 0\n# limits\nmax_per_ipp = 3\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_chatd"))
        .args(["--mode", mode.flag(), "--config"])
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end(),
        format!(
            "chatd: {}:3: unknown setting `max_per_ipp` (see chatd --help)",
            path.display()
        )
    );
    std::fs::write(&path, "port = 0\nmsg_rate = \"fast\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chatd"))
        .args(["--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(":2: `msg_rate`: "), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let _ = std::fs::remove_file(path);
}

/// contrib/chatd.service, checked by `systemd-analyze verify` (with this build's binary in
/// its ExecStart) where systemd is installed.
#[test]
fn the_systemd_unit_is_valid() {
    let Ok(out) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("SKIPPED: systemd-analyze is not installed");
        return;
    };
    assert!(out.status.success());
    let unit = include_str!("../contrib/chatd.service")
        .replace("/usr/local/bin/chatd", env!("CARGO_BIN_EXE_chatd"));
    for hardening in [
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "LimitNOFILE=",
    ] {
        assert!(unit.contains(hardening), "{hardening}");
    }
    let dir = std::env::temp_dir().join(format!("chatd-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("chatd.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(!said.contains("chatd.service:"), "{said}");
    let _ = std::fs::remove_dir_all(dir);
}

fn sighup_reloads_the_limits(mode: Mode) {
    let path = file(
        &format!("reload-{}", mode.flag()),
        "max_per_ip = 1\nexempt = \"none\"\n",
    );
    let config = path.display().to_string();
    let server = Server::start_with(mode, &["--config", &config]);
    let _first = server.client();
    let mut second = server.connect();
    assert_eq!(
        second.until_closed(),
        ["! too many connections from your address"]
    );
    std::fs::write(&path, "max_per_ip = 3\nexempt = \"none\"\n").unwrap();
    signal(server.pid(), "HUP");
    // Taken at once, but the signal and the reload are not the test's to wait on: try again
    // until a second client is let in.
    let until = Instant::now() + DEADLINE;
    loop {
        use std::io::BufRead;
        let s = std::net::TcpStream::connect(server.addr).unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut first = String::new();
        let _ = std::io::BufReader::new(s).read_line(&mut first);
        if first.starts_with("* welcome ") {
            break;
        }
        assert!(Instant::now() < until, "the new limit never took effect");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A broken file changes nothing, and stops nothing.
    std::fs::write(&path, "max_per_ip = \"lots\"\n").unwrap();
    signal(server.pid(), "HUP");
    let mut c = server.client();
    c.send("/who");
    assert!(c.line().starts_with("* online in #lobby "));
    let _ = std::fs::remove_file(path);
}

fn sighup_changes_the_line_rate_of_clients_already_in(mode: Mode) {
    // One line every 10 s: 20 lines would take over 3 minutes.
    let path = file(
        &format!("rate-{}", mode.flag()),
        "msg_rate = 0.1\nmsg_burst = 1\n",
    );
    let config = path.display().to_string();
    let server = Server::start_with(mode, &["--config", &config]);
    let mut talker = server.client();
    let mut reader = server.client();
    talker.send("/limits");
    talker
        .expect_after_joins("* limits: 0.1 lines a second after 1 at once; lines up to 4096 bytes");
    std::fs::write(&path, "msg_rate = 1000\nmsg_burst = 100\n").unwrap();
    signal(server.pid(), "HUP");
    // The signal and the reload are not the test's to wait on: ask until the hub has it.
    let until = Instant::now() + DEADLINE;
    loop {
        talker.send("/limits");
        let said = talker.line();
        if said.starts_with("* limits: 1000 lines a second") {
            break;
        }
        assert!(
            Instant::now() < until,
            "the new rate never took effect: {said}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The talker, connected before, is read at the new rate: 20 lines arrive within the
    // reader's deadline (at the old rate they would take minutes).
    let lines: String = (0..20).map(|i| format!("line {i}\n")).collect();
    talker.send_bytes(lines.as_bytes());
    for i in 0..20 {
        loop {
            let got = reader.line();
            if got == format!("<{}> line {i}", talker.name) {
                break;
            }
            assert!(!got.starts_with('<'), "out of order: {got}");
        }
    }
    let _ = std::fs::remove_file(path);
}

/// `--history` lowered by a reload holds at once for the lines kept already: a room keeps no
/// more than the new number, and at 0 none.
fn sighup_lowering_the_history_shows_fewer_lines_at_once(mode: Mode) {
    let path = file(&format!("history-{}", mode.flag()), "history = 5\n");
    let config = path.display().to_string();
    let server = Server::start_with(mode, &["--config", &config]);
    let mut a = server.client();
    for i in 0..5 {
        a.send(&format!("line {i}"));
    }
    a.sync();
    let history = |c: &mut common::Client| -> Vec<String> {
        c.send("/history");
        let mut got = vec![c.line()];
        while got.last().is_some_and(|l| l != "* end of history") {
            got.push(c.line());
        }
        got
    };
    let mut b = server.client();
    assert_eq!(history(&mut b)[0], "* history of #lobby: 5 lines");
    std::fs::write(&path, "history = 2\n").unwrap();
    signal(server.pid(), "HUP");
    // The reload is not the test's to wait on: ask until it has taken effect.
    let until = Instant::now() + DEADLINE;
    loop {
        let got = history(&mut b);
        if got[0] == "* history of #lobby: 2 lines" {
            assert_eq!(got[1..3], ["<guest1> line 3", "<guest1> line 4"]);
            break;
        }
        assert!(Instant::now() < until, "still {got:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::write(&path, "history = 0\n").unwrap();
    signal(server.pid(), "HUP");
    let until = Instant::now() + DEADLINE;
    loop {
        let got = history(&mut b);
        if got == ["* history of #lobby: 0 lines", "* end of history"] {
            break;
        }
        assert!(Instant::now() < until, "still {got:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // And a newcomer is shown none.
    let mut c = server.client();
    assert_eq!(c.sync(), Vec::<String>::new());
    let _ = std::fs::remove_file(path);
}
