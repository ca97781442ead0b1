//! The store's file: created `0600`, held by one chatd at a time (an advisory `flock` on the
//! file itself, which SQLite's own POSIX locks do not see, so that `sqlite3 FILE ".backup
//! copy.db"` still works while chatd runs), recognised as chatd's (SQLite's `application_id`),
//! and brought to this chatd's schema version in one transaction (`user_version`).
//!
//! Every refusal is one line that names the file and what is wrong with it: the caller prints
//! it and exits 1.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::schema::{self, APPLICATION_ID};

/// An open store file: the connection, and the lock that says it is this process's.
pub struct Opened {
    pub db: Connection,
    pub path: PathBuf,
    /// Held as long as the store is open: a second chatd on the file is refused.
    _lock: Lock,
}

/// An exclusive `flock` on the file, released when dropped. It must outlive every
/// connection to the file: closing any descriptor of a file drops the process's POSIX locks
/// on it, SQLite's included, so this one is closed last.
struct Lock {
    _file: File,
}

impl Lock {
    fn take(path: &Path) -> Result<Lock, String> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|e| format!("store {}: cannot open: {e}", path.display()))?;
        // SAFETY: flock on a descriptor this File owns; no memory is involved.
        let taken = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if taken != 0 {
            let err = std::io::Error::last_os_error();
            return Err(if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                format!(
                    "store {}: in use by another chatd (one server per store file)",
                    path.display()
                )
            } else {
                format!("store {}: cannot lock: {err}", path.display())
            });
        }
        Ok(Lock { _file: file })
    }
}

/// Opens (or makes) the store at `path` for writing: locked, checked, migrated.
pub fn open(path: &Path) -> Result<Opened, String> {
    let lock = Lock::take(path)?;
    let fail =
        |what: &str, e: &dyn std::fmt::Display| format!("store {}: {what}: {e}", path.display());
    let db = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| fail("cannot open", &e))?;
    // A file that is not a database at all fails here, at its first read.
    let (app, version) = identity(&db).map_err(|e| fail("not a chatd store", &e))?;
    let empty: bool = db
        .query_row("SELECT count(*) = 0 FROM sqlite_master", [], |r| r.get(0))
        .map_err(|e| fail("not a chatd store", &e))?;
    if !empty && app != APPLICATION_ID {
        return Err(format!(
            "store {}: not a chatd store (another program's SQLite database)",
            path.display()
        ));
    }
    if version > schema::VERSION {
        return Err(format!(
            "store {}: made by a newer chatd (schema {version}; this one knows up to {})",
            path.display(),
            schema::VERSION
        ));
    }
    tune(&db).map_err(|e| fail("cannot set up", &e))?;
    if version < schema::VERSION {
        schema::migrate(&db, version).map_err(|e| fail("cannot upgrade its schema", &e))?;
        if version > 0 {
            log::info!(
                "store {}: schema {version} upgraded to {}",
                path.display(),
                schema::VERSION
            );
        }
    }
    Ok(Opened {
        db,
        path: path.to_path_buf(),
        _lock: lock,
    })
}

/// A second connection to an open store, for reading beside the writer (WAL lets both go on).
pub fn reader(path: &Path) -> rusqlite::Result<Connection> {
    let db = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    db.busy_timeout(std::time::Duration::from_secs(1))?;
    Ok(db)
}

/// `chatd --store FILE --check`: the file is a chatd store of a known version, and SQLite's
/// integrity check finds nothing wrong. What it found, for one line of output.
pub fn check(path: &Path) -> Result<String, String> {
    if !path.exists() {
        return Err(format!("store {}: no such file", path.display()));
    }
    let opened = open(path)?;
    let db = &opened.db;
    let fail = |e: rusqlite::Error| format!("store {}: {e}", path.display());
    let problems: Vec<String> = {
        let mut stmt = db.prepare("PRAGMA integrity_check").map_err(fail)?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)?
    };
    if problems != ["ok"] {
        return Err(format!(
            "store {}: damaged: {}",
            path.display(),
            problems.join("; ")
        ));
    }
    let lines: i64 = db
        .query_row("SELECT count(*) FROM lines", [], |r| r.get(0))
        .map_err(fail)?;
    let rooms: i64 = db
        .query_row("SELECT count(*) FROM rooms", [], |r| r.get(0))
        .map_err(fail)?;
    Ok(format!(
        "store {}: ok (schema {}, {lines} lines in {rooms} rooms)",
        path.display(),
        schema::VERSION
    ))
}

fn identity(db: &Connection) -> rusqlite::Result<(i32, i32)> {
    let app = db.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    let version = db.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    Ok((app, version))
}

/// WAL (readers beside the writer, a crash loses no committed batch), `synchronous=NORMAL`
/// (a batch survives the process dying; only a power cut may lose the last ones, never the
/// file), and room given back in small steps (see the writer's retention).
fn tune(db: &Connection) -> rusqlite::Result<()> {
    db.busy_timeout(std::time::Duration::from_secs(1))?;
    // auto_vacuum only takes effect on a file with no tables yet: set before the schema.
    db.execute_batch(
        "PRAGMA auto_vacuum = INCREMENTAL;
         PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA cache_size = -16384;
         PRAGMA foreign_keys = OFF;",
    )
}
