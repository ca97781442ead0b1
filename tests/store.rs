//! The store, over real sockets, in both concurrency modes: what was said, the rooms, topics,
//! bans and line ids survive a restart (and `--store none` forgets them); older history and
//! search come from the file; a file that is another server's, another program's, a newer
//! chatd's, corrupt, or not a database at all is refused at start with one line; `kill -9`
//! loses only the last moments, SIGTERM nothing, and a full disk only the lines it could not
//! take.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Client, Mode, Server, TempDir};
use serde_json::Value;

both_modes!(
    what_was_said_survives_a_restart,
    without_a_store_a_restart_forgets,
    older_history_and_search_come_from_the_store,
    a_store_file_is_checked_at_start,
    a_kill_9_loses_only_the_last_moments,
    a_stop_loses_nothing,
    a_full_disk_costs_only_the_lines_it_could_not_keep,
    retention_keeps_the_file_within_its_bounds,
);

/// A temporary folder for one test's store, with the operators' password in it.
fn store_dir(name: &str) -> TempDir {
    let dir = TempDir::new(&format!("store-{name}"));
    std::fs::write(dir.0.join("oper"), "op-secret\n").unwrap();
    dir
}

fn start(mode: Mode, dir: &TempDir) -> Server {
    let (store, oper) = (dir.path("chatd.db"), dir.path("oper"));
    Server::start_with(
        mode,
        &[
            "--store",
            &store,
            "--store-sync-ms",
            "10",
            "--oper-password-file",
            &oper,
        ],
    )
}

/// Reads `c`'s lines up to `want`, and returns those before it.
fn until(c: &mut Client, want: &str) -> Vec<String> {
    c.until(want)
}

fn what_was_said_survives_a_restart(mode: Mode) {
    let dir = store_dir(&format!("restart-{mode:?}"));
    let mut server = start(mode, &dir);
    let mut ana = server.client();
    ana.send("/nick ana");
    ana.expect("* you are now ana");
    ana.send("/join dev");
    ana.expect("* you are in #dev (1 here)");
    ana.send("/topic release on friday");
    ana.expect("* ana set the topic of #dev: release on friday");
    for line in ["hello world", "ship it", "/me waves"] {
        ana.send(line);
    }
    ana.send("/oper op-secret");
    ana.expect("* you are now an operator");
    let mut pest = server.client_from("127.0.0.9");
    ana.send(&format!("/ban {} 5", pest.name));
    until(&mut ana, "* 127.0.0.9 is banned for 5 minutes");
    assert_eq!(pest.until_closed(), ["! banned by ana for 5 minutes"]);
    assert!(server.stop().success());
    let mode_of_file = std::fs::metadata(dir.path("chatd.db")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(mode_of_file.permissions().mode() & 0o777, 0o600);

    let server = start(mode, &dir);
    let mut bob = server.client();
    bob.send("/rooms");
    bob.expect("* rooms (2): #dev (0), #lobby (1)");
    bob.send("/join dev");
    bob.expect("* you are in #dev (1 here)");
    bob.expect("* topic of #dev: release on friday");
    bob.expect("* history of #dev: 3 lines");
    bob.expect("<ana> hello world");
    bob.expect("<ana> ship it");
    bob.expect("* ana waves");
    bob.expect("* end of history");
    // Ids go on from where they were: the next line is the fourth.
    bob.send("after the restart");
    bob.send("/search restart");
    bob.expect("* search for restart: 1 line, newest first");
    bob.expect(&format!("* #dev 4: <{}> after the restart", bob.name));
    bob.expect("* end of search");
    // The ban holds.
    let mut back = server.connect_from("127.0.0.9");
    assert!(back.line().starts_with("! banned ("), "the ban was kept");
}

fn without_a_store_a_restart_forgets(mode: Mode) {
    let mut server = Server::start_with(mode, &["--store", "none"]);
    let mut ana = server.client();
    ana.send("/join dev");
    ana.send("/topic kept?");
    ana.send("said once");
    ana.send("/part");
    until(&mut ana, "* you are in #lobby (1 here)");
    ana.send("/rooms");
    ana.expect("* rooms (2): #dev (0), #lobby (1)");
    assert!(server.stop().success());
    let server = Server::start_with(mode, &["--store", "none"]);
    let mut bob = server.client();
    bob.send("/rooms");
    bob.expect("* rooms (1): #lobby (1)");
    bob.send("/join dev");
    bob.expect("* you are in #dev (1 here)");
    bob.send("/topic");
    bob.expect("* #dev has no topic");
}

fn older_history_and_search_come_from_the_store(mode: Mode) {
    let dir = store_dir(&format!("older-{mode:?}"));
    let store = dir.path("chatd.db");
    let server = Server::start_with(
        mode,
        &["--store", &store, "--history", "5", "--msg-rate", "0"],
    );
    let mut ana = server.client();
    ana.send("/join dev");
    for n in 1..=30 {
        ana.send(&format!("line {n} of thirty"));
    }
    ana.send("/join ops");
    ana.send("a needle in ops");
    ana.sync();
    // Lines 21..25, before line 26; more are left.
    ana.send("/history before 26 5");
    let page = until(&mut ana, "* end of history; older: /history before 21");
    let head = page
        .iter()
        .position(|l| l == "* history of #dev before 26: 5 lines")
        .unwrap();
    let want: Vec<String> = (21..=25)
        .map(|n| format!("<{}> line {n} of thirty", ana.name))
        .collect();
    assert_eq!(page[head + 1..], want[..]);
    // The first lines: nothing older.
    ana.send("/history before 3");
    ana.expect("* history of #dev before 3: 2 lines");
    ana.line();
    ana.line();
    ana.expect("* end of history");
    // Every room, or one; the words as words, whatever they look like.
    ana.send("/search needle");
    ana.expect("* search for needle: 1 line, newest first");
    ana.expect(&format!("* #ops 31: <{}> a needle in ops", ana.name));
    ana.expect("* end of search");
    ana.send("/search #dev needle");
    ana.expect("* search for needle: 0 lines, newest first");
    ana.expect("* end of search");
    ana.send("/search \"thirty\" OR NEAR(x");
    ana.expect("* search for \"thirty\" OR NEAR(x: 0 lines, newest first");
    ana.expect("* end of search");
    ana.send("/search thirty");
    let found = until(&mut ana, "* end of search");
    assert_eq!(found[0], "* search for thirty: 20 lines, newest first");
    assert_eq!(
        found[1],
        format!("* #dev 30: <{}> line 30 of thirty", ana.name)
    );
    // Bad input: refused, nothing else.
    for (bad, code) in [
        ("/history before x", "! usage: "),
        ("/history before 5 999", "! usage: "),
        ("/search", "! usage: "),
        ("/history before n1-3", "! no line n1-3 here"),
    ] {
        ana.send(bad);
        let got = ana.line();
        assert!(got.starts_with(code), "{bad}: {got}");
    }
    // In JSON: one history event, with before and more.
    ana.send("/format json");
    ana.line();
    ana.send("/history before 10 3");
    let page: Value = serde_json::from_str(&ana.line()).unwrap();
    assert_eq!(page["type"], "history");
    assert_eq!(page["before"], "10");
    assert_eq!(page["more"], true);
    assert_eq!(page["room"], "dev");
    let ids: Vec<&str> = page["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["7", "8", "9"]);
    ana.send("/search needle");
    let found: Value = serde_json::from_str(&ana.line()).unwrap();
    assert_eq!(found["type"], "search");
    assert_eq!(found["lines"][0]["room"], "ops");
    assert_eq!(found["lines"][0]["id"], "31");
}

/// Runs chatd on `store` (with `extra`), expecting it to exit at once: its code and stderr.
fn refused(mode: Mode, store: &str, extra: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_chatd"))
        .args(["--mode", mode.flag(), "--port", "0", "--store", store])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).trim_end().to_string(),
    )
}

fn a_store_file_is_checked_at_start(mode: Mode) {
    let dir = store_dir(&format!("checked-{mode:?}"));
    let store = dir.path("chatd.db");
    let mut server = start(mode, &dir);
    let mut ana = server.client();
    ana.send("kept");
    ana.sync();
    // One server per file.
    let (code, err) = refused(mode, &store, &[]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        format!("chatd: store {store}: in use by another chatd (one server per store file)")
    );
    assert!(server.stop().success());
    let (code, out) = {
        let out = Command::new(env!("CARGO_BIN_EXE_chatd"))
            .args(["--store", &store, "--check"])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    assert_eq!(code, Some(0));
    assert!(
        out.starts_with(&format!("store {store}: ok (schema 2, 1 lines in 1 rooms)")),
        "{out}"
    );
    // A corrupt one: the rooms table's first page overwritten.
    let corrupt = dir.path("corrupt.db");
    std::fs::copy(&store, &corrupt).unwrap();
    let (page, size): (u64, u64) = {
        let db = rusqlite::Connection::open(&corrupt).unwrap();
        let page = db
            .query_row(
                "SELECT rootpage FROM sqlite_master WHERE name = 'rooms'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        (
            page,
            db.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap(),
        )
    };
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&corrupt)
            .unwrap();
        f.seek(SeekFrom::Start((page - 1) * size)).unwrap();
        f.write_all(&b"\x0d\xff\xff\xff".repeat(size as usize / 4))
            .unwrap();
    }
    let (code, err) = refused(mode, &corrupt, &[]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        format!("chatd: store {corrupt}: cannot read: database disk image is malformed")
    );
    let (code, err) = refused(mode, &corrupt, &["--check"]);
    assert_eq!((code, err.lines().count()), (Some(1), 1), "{err}");
    // A newer chatd's.
    set_version(Path::new(&store), 99);
    let (code, err) = refused(mode, &store, &[]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        format!("chatd: store {store}: made by a newer chatd (schema 99; this one knows up to 2)")
    );
    // Another program's database, and no database at all.
    let foreign = dir.path("other.db");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE notes (x TEXT);")
        .unwrap();
    let (code, err) = refused(mode, &foreign, &[]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        format!("chatd: store {foreign}: not a chatd store (another program's SQLite database)")
    );
    let junk = dir.path("junk.db");
    std::fs::write(&junk, vec![0x5a; 8192]).unwrap();
    let (code, err) = refused(mode, &junk, &[]);
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with(&format!("chatd: store {junk}: not a chatd store")),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let (code, err) = refused(mode, &junk, &["--check"]);
    assert_eq!(code, Some(1), "{err}");
}

fn set_version(path: &Path, version: i32) {
    let db = rusqlite::Connection::open(path).unwrap();
    db.pragma_update(None, "user_version", version).unwrap();
}

/// The lines kept in `store`, as (id, text), by id; and what `PRAGMA integrity_check` says.
fn kept_lines(store: &str) -> (Vec<(u64, String)>, String) {
    let db =
        rusqlite::Connection::open_with_flags(store, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    let mut query = db
        .prepare("SELECT id, text FROM lines ORDER BY id")
        .unwrap();
    let lines = query
        .query_map([], |row| Ok((row.get::<_, i64>(0)? as u64, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    (lines, check)
}

/// Sends `paced N` lines at 1,000 a second for `span`; when each was sent.
fn paced(c: &mut Client, span: Duration) -> Vec<Instant> {
    let start = Instant::now();
    let mut sent = Vec::new();
    while start.elapsed() < span {
        let due = start + Duration::from_millis(sent.len() as u64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        c.send(&format!("paced {}", sent.len()));
        sent.push(Instant::now());
    }
    sent
}

/// The numbers of the `paced N` lines kept, in id order; asserts none is kept twice and that
/// ids follow the order they were said in.
fn paced_kept(store: &str) -> Vec<usize> {
    let (lines, check) = kept_lines(store);
    assert_eq!(check, "ok");
    let numbers: Vec<usize> = lines
        .iter()
        .filter_map(|(_, text)| text.strip_prefix("paced ")?.parse().ok())
        .collect();
    let mut sorted = numbers.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), numbers.len(), "a line kept twice");
    assert_eq!(
        sorted, numbers,
        "ids out of the order the lines were said in"
    );
    numbers
}

/// `kill -9` under a paced load: every line said more than `--store-sync-ms` + 100 ms before
/// the kill is in the file, once, in order; the file is sound, and the next server goes on
/// with new ids.
fn a_kill_9_loses_only_the_last_moments(mode: Mode) {
    let dir = store_dir(&format!("kill-{mode:?}"));
    let store = dir.path("chatd.db");
    let args = [
        "--store",
        &store,
        "--store-sync-ms",
        "50",
        "--msg-rate",
        "0",
    ];
    let mut server = Server::start_with(mode, &args);
    let mut ana = server.client();
    let sent = paced(&mut ana, Duration::from_millis(1500));
    common::signal(server.pid(), "KILL");
    let killed = Instant::now();
    server.wait();
    let kept = paced_kept(&store);
    let safe = sent
        .iter()
        .filter(|at| killed.duration_since(**at) > Duration::from_millis(150))
        .count();
    assert!(safe > 1000, "only {safe} lines were sent in time");
    assert!(
        kept.len() >= safe && kept[..safe] == (0..safe).collect::<Vec<_>>()[..],
        "{} of the {safe} lines said in time are kept",
        kept.iter().filter(|n| **n < safe).count()
    );
    // The next server starts on the file and gives new ids.
    let (lines, _) = kept_lines(&store);
    let last = lines.last().unwrap().0;
    let server = Server::start_with(mode, &args);
    let mut bob = server.client();
    bob.send("after the crash");
    bob.send("/search crash");
    until(&mut bob, "* search for crash: 1 line, newest first"); // past the lobby's history
    let found = bob.line();
    let id: u64 = found
        .strip_prefix("* #lobby ")
        .and_then(|rest| rest.split(':').next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("{found}"));
    assert!(id > last, "id {id} given again (the file's last is {last})");
}

/// SIGTERM loses nothing: every line the server read is in the file.
fn a_stop_loses_nothing(mode: Mode) {
    let dir = store_dir(&format!("stop-{mode:?}"));
    let store = dir.path("chatd.db");
    let args = [
        "--store",
        &store,
        "--store-sync-ms",
        "1000",
        "--msg-rate",
        "0",
    ];
    let mut server = Server::start_with(mode, &args);
    let mut ana = server.client();
    let sent = paced(&mut ana, Duration::from_millis(500));
    ana.sync(); // the server has read them all
    assert!(server.stop().success());
    assert_eq!(paced_kept(&store), (0..sent.len()).collect::<Vec<_>>());
}

/// The metric `name` of `server` now.
fn metric(server: &Server, name: &str) -> f64 {
    common::scrape::value(
        &common::scrape::scrape(server.web_addr.unwrap()),
        name,
        None,
    )
}

/// Waits (bounded) until the metric `name` passes `ok`, and returns its value.
fn metric_until(server: &Server, name: &str, ok: impl Fn(f64) -> bool) -> f64 {
    let until = Instant::now() + common::DEADLINE;
    loop {
        let v = metric(server, name);
        if ok(v) {
            return v;
        }
        assert!(Instant::now() < until, "{name} stayed at {v}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A full disk: the store lives on a 2 MB tmpfs of its own (in a mount namespace, made with
/// `unshare`), which the test fills. The chat goes on; one line is logged; the lines that
/// could not be written are counted, and every line is either written or counted; once there
/// is room again, writing resumes; the file stays sound.
fn a_full_disk_costs_only_the_lines_it_could_not_keep(mode: Mode) {
    let dir = store_dir(&format!("full-{mode:?}"));
    let mnt = dir.path("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let (log, store) = (dir.path("log"), format!("{mnt}/chatd.db"));
    let mount = format!("mount -t tmpfs -o size=2m chatd-test {mnt} && exec \"$@\"");
    let wrapper = [
        "unshare",
        "--user",
        "--map-root-user",
        "--mount",
        "sh",
        "-c",
        &mount,
        "sh",
    ];
    let args = [
        "--store",
        &store,
        "--store-sync-ms",
        "10",
        "--msg-rate",
        "0",
        "--web-port",
        "0",
    ];
    let mut server = Server::start_wrapped_logged(mode, &wrapper, &args, Path::new(&log));
    // The tmpfs, as this test (outside the namespace) reaches it.
    let inside = format!("/proc/{}/root{mnt}", server.pid());
    let mut ana = server.client();
    let mut bob = server.client();
    ana.sync();
    let mut said = 0u64;
    let mut say = |ana: &mut Client, bob: &mut Client, what: &str, n: usize| {
        for i in 0..n {
            ana.send(&format!("{what} {i} {}", "x".repeat(200)));
        }
        said += n as u64;
        // The chat goes on, whatever the disk does.
        let got = bob.sync_with(ana);
        assert_eq!(got.len(), n, "{:?}", got.last());
        said
    };
    let n = say(&mut ana, &mut bob, "before", 50);
    metric_until(&server, "chatd_store_lines_written_total", |v| {
        v >= n as f64
    });

    // Fill the disk.
    let filler = format!("{inside}/filler");
    {
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 16 << 10];
        use std::io::Write;
        while f.write_all(&chunk).is_ok() {}
    }
    // Lines go on until the file must grow and cannot.
    let until = Instant::now() + common::DEADLINE;
    while metric(&server, "chatd_store_failed_lines_total") == 0.0 {
        assert!(
            Instant::now() < until,
            "the store never found the disk full"
        );
        say(&mut ana, &mut bob, "while full", 200);
    }
    say(&mut ana, &mut bob, "still full", 100);
    let said_log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        said_log.matches("cannot write").count(),
        1,
        "logged once: {said_log}"
    );

    // Room again: writing resumes, and every line is written or counted as not.
    std::fs::remove_file(&filler).unwrap();
    let written = metric(&server, "chatd_store_lines_written_total");
    let n = say(&mut ana, &mut bob, "after", 50);
    metric_until(&server, "chatd_store_lines_written_total", |v| {
        v >= written + 50.0
    });
    let failed = metric(&server, "chatd_store_failed_lines_total");
    let written = metric(&server, "chatd_store_lines_written_total");
    assert_eq!(
        written + failed,
        n as f64,
        "lines neither written nor counted"
    );
    let dropped = metric(&server, "chatd_store_dropped_lines_total");
    assert_eq!(dropped, 0.0);
    let said_log = std::fs::read_to_string(&log).unwrap();
    assert!(said_log.contains("writing again"), "{said_log}");
    // SQLite resolves /proc/PID/root to this test's own root: the file is read from inside
    // the namespace, with the backup command docs/operations.md gives.
    let copy = dir.path("copy.db");
    let backup = Command::new("nsenter")
        .args([
            "--target",
            &server.pid().to_string(),
            "--user",
            "--mount",
            "--",
        ])
        .args(["sqlite3", &store, &format!(".backup {copy}")])
        .output()
        .unwrap();
    assert!(backup.status.success(), "{backup:?}");
    let (lines, check) = kept_lines(&copy);
    assert_eq!(check, "ok");
    let kept = |what: &str| lines.iter().filter(|(_, t)| t.starts_with(what)).count();
    assert_eq!(kept("before "), 50);
    assert_eq!(kept("after "), 50);
    assert!(server.stop().success());
}

/// Waits (bounded) until `ok` holds of the store file, read beside the server.
fn file_until(store: &str, what: &str, ok: impl Fn(&rusqlite::Connection) -> bool) {
    let until = Instant::now() + common::DEADLINE;
    loop {
        let db = rusqlite::Connection::open_with_flags(
            store,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        if ok(&db) {
            return;
        }
        assert!(Instant::now() < until, "{what}: not within the deadline");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn count(db: &rusqlite::Connection, sql: &str) -> i64 {
    db.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// `--keep-days`: lines older than that go (5,000 lines of ten days ago put in the file), in
/// steps, the recent ones kept; `--keep-mb`: the file's pages in use come down to the limit as
/// lines come in, the newest kept.
fn retention_keeps_the_file_within_its_bounds(mode: Mode) {
    let dir = store_dir(&format!("keep-{mode:?}"));
    let store = dir.path("chatd.db");
    // A store made by chatd, then lines of long ago put in it.
    let mut server = Server::start_with(mode, &["--store", &store]);
    server.client().sync();
    assert!(server.stop().success());
    {
        let mut db = rusqlite::Connection::open(&store).unwrap();
        let tx = db.transaction().unwrap();
        tx.execute(
            "INSERT INTO rooms (key, name, last_line) VALUES ('old', 'old', 5000)",
            [],
        )
        .unwrap();
        let room = tx.last_insert_rowid();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        let long_ago = (now - Duration::from_secs(10 * 86_400)).as_micros() as i64;
        for id in 1..=5000i64 {
            tx.execute(
                "INSERT INTO lines (id, room, at, sender, me, text) VALUES (?1, ?2, ?3, 'old', 0, 'then')",
                rusqlite::params![id, room, long_ago + id],
            )
            .unwrap();
        }
        tx.execute("UPDATE meta SET value = 5000 WHERE key = 'said'", [])
            .unwrap();
        tx.commit().unwrap();
    }
    let mut server = Server::start_with(mode, &["--store", &store, "--keep-days", "1"]);
    let mut ana = server.client();
    ana.send("recent");
    ana.sync();
    file_until(&store, "the old lines deleted", |db| {
        count(db, "SELECT count(*) FROM lines WHERE sender = 'old'") == 0
            && count(db, "SELECT count(*) FROM lines WHERE text = 'recent'") == 1
    });
    assert!(server.stop().success());

    // 1 MB at most, 6 MB of lines said.
    let server = Server::start_with(
        mode,
        &[
            "--store",
            &store,
            "--keep-mb",
            "1",
            "--msg-rate",
            "0",
            "--max-line",
            "2000",
        ],
    );
    let mut bob = server.client();
    let text = "x".repeat(1000);
    for n in 0..6000 {
        bob.send(&format!("{n} {text}"));
    }
    bob.sync();
    let used = |db: &rusqlite::Connection| {
        count(db, "PRAGMA page_count") - count(db, "PRAGMA freelist_count")
    };
    file_until(&store, "the file back within 1 MB", |db| {
        used(db) * count(db, "PRAGMA page_size") <= 1 << 20
            && count(db, "SELECT count(*) FROM lines WHERE text LIKE '5999 %'") == 1
    });
}
