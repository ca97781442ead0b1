//! The hashing pool: accounts' passwords hashed (Argon2id, on purpose tens of milliseconds
//! each) and checked on threads of their own, never on the poll loop or under the room lock.
//! A few threads (one fewer than the cores, at least one) take work from one bounded queue,
//! scheduled only when a core is otherwise idle (`SCHED_IDLE`): a flood of logins slows the
//! logins, not the chat. A full queue is refused at once, and the hub tells the client to try
//! again. Answers go back through the server's
//! inbox, as the store's and the cluster link's do.
//!
//! Hashes are PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH`): they carry their
//! parameters, so a later chatd may raise them and still check the old ones. A check against
//! no account is made against a decoy hash with the same parameters: a wrong name costs what
//! a wrong password does. Passwords are never logged, and dropped once hashed.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::hub::{Hashed, Hasher, Hashing};
use crate::news::Incoming;

/// Work waiting for a thread at most; more is refused (`! busy, try again`).
pub const QUEUE: usize = 64;

/// Most threads hashing at once.
const MAX_THREADS: usize = 4;

enum Work {
    Check {
        to: usize,
        serial: u64,
        hash: Option<String>,
        password: String,
        new: Option<String>,
    },
    Make {
        to: usize,
        serial: u64,
        password: String,
    },
}

/// The server's end of the pool.
pub struct Pool {
    tx: SyncSender<Work>,
}

impl Hasher for Pool {
    fn hash(&self, work: &Hashing<'_>) -> bool {
        let work = match *work {
            Hashing::Check {
                to,
                serial,
                hash,
                password,
                new,
            } => Work::Check {
                to,
                serial,
                hash: hash.map(str::to_string),
                password: password.to_string(),
                new: new.map(str::to_string),
            },
            Hashing::Make {
                to,
                serial,
                password,
            } => Work::Make {
                to,
                serial,
                password: password.to_string(),
            },
        };
        match self.tx.try_send(work) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => false,
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

/// Starts the pool's threads (one fewer than the cores, at least one, at most
/// [`MAX_THREADS`]); what they answer is handed to `deliver`.
pub fn start(deliver: impl Fn(Incoming) + Send + Sync + 'static) -> std::io::Result<Pool> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| usize::from(n).saturating_sub(1))
        .clamp(1, MAX_THREADS);
    let (tx, rx) = sync_channel(QUEUE);
    let rx = Arc::new(Mutex::new(rx));
    let deliver: Arc<dyn Fn(Incoming) + Send + Sync> = Arc::new(deliver);
    let decoy = Arc::new(OnceLock::new());
    {
        // Made before any work is taken (the first thread makes it; the others wait on it):
        // the first name no one registered costs what every other one does.
        let decoy = Arc::clone(&decoy);
        std::thread::Builder::new()
            .name("hashing-decoy".into())
            .spawn(move || {
                decoy.get_or_init(|| make("a decoy nobody types").unwrap_or_default());
            })?;
    }
    for i in 0..threads {
        let (rx, deliver, decoy) = (Arc::clone(&rx), Arc::clone(&deliver), Arc::clone(&decoy));
        std::thread::Builder::new()
            .name(format!("hashing-{i}"))
            .spawn(move || work(&rx, &*deliver, &decoy))?;
    }
    Ok(Pool { tx })
}

/// One thread: takes work until the pool's end is dropped.
fn work(rx: &Mutex<Receiver<Work>>, deliver: &dyn Fn(Incoming), decoy: &OnceLock<String>) {
    // SAFETY: sched_setscheduler on this thread's own id (0) with a parameter it reads; a
    // failure only leaves the policy as it was.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
            log::debug!(
                "hashing: SCHED_IDLE refused: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    loop {
        let next = {
            let rx = rx.lock().unwrap_or_else(|e| e.into_inner());
            rx.recv()
        };
        let Ok(work) = next else { return };
        let answer = match work {
            Work::Check {
                to,
                serial,
                hash,
                password,
                new,
            } => {
                let matched = match &hash {
                    Some(hash) => check(hash, &password),
                    None => {
                        // The same work as a real account's, and never a match.
                        let decoy =
                            decoy.get_or_init(|| make("a decoy nobody types").unwrap_or_default());
                        let _ = check(decoy, &password);
                        false
                    }
                };
                let hash = match (matched, new) {
                    (true, Some(new)) => make(&new),
                    _ => None,
                };
                Hashed {
                    to,
                    serial,
                    matched,
                    hash,
                }
            }
            Work::Make {
                to,
                serial,
                password,
            } => {
                let hash = make(&password);
                Hashed {
                    to,
                    serial,
                    matched: hash.is_some(),
                    hash,
                }
            }
        };
        deliver(Incoming::Hashed(answer));
    }
}

/// The Argon2id hash of `password` with a new salt, as a PHC string (OWASP's parameters:
/// 19 MiB, 2 passes, 1 lane).
pub fn make(password: &str) -> Option<String> {
    let salt = SaltString::generate(&mut OsRng);
    match Argon2::default().hash_password(password.as_bytes(), &salt) {
        Ok(hash) => Some(hash.to_string()),
        Err(e) => {
            log::error!("hashing: {e}");
            None
        }
    }
}

/// Whether `password` is the one `hash` (a PHC string) was made of; in constant time.
pub fn check(hash: &str, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        log::warn!("hashing: a stored hash is not a PHC string");
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_argon2id_with_owasps_parameters_and_checks_only_its_password() {
        let hash = make("correct horse").unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(!hash.contains("correct horse"));
        assert!(check(&hash, "correct horse"));
        assert!(!check(&hash, "correct hors"));
        assert!(!check(&hash, ""));
        assert!(!check("not a hash", "correct horse"));
        assert_ne!(make("correct horse").unwrap(), hash, "a new salt each time");
    }

    #[test]
    fn the_pool_answers_through_the_inbox_and_refuses_when_full() {
        let (tx, rx) = std::sync::mpsc::channel();
        let tx = Mutex::new(tx);
        let pool = start(move |news| {
            if let Incoming::Hashed(h) = news {
                let _ = tx.lock().unwrap().send(h);
            }
        })
        .unwrap();
        let made = Hashing::Make {
            to: 1,
            serial: 7,
            password: "longenough",
        };
        assert!(pool.hash(&made));
        let got = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        assert_eq!((got.to, got.serial, got.matched), (1, 7, true));
        let hash = got.hash.unwrap();
        for (password, want) in [("longenough", true), ("wrong one", false)] {
            let work = Hashing::Check {
                to: 2,
                serial: 8,
                hash: Some(&hash),
                password,
                new: Some("newer one"),
            };
            assert!(pool.hash(&work));
            let got = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
            assert_eq!(got.matched, want);
            assert_eq!(got.hash.is_some(), want, "a new hash only after a match");
        }
        let unknown = Hashing::Check {
            to: 3,
            serial: 9,
            hash: None,
            password: "a decoy nobody types",
            new: None,
        };
        assert!(pool.hash(&unknown));
        let got = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        assert!(
            !got.matched,
            "no account matches, not even the decoy's password"
        );
        // Far more work than the queue holds, at once: some is refused, none blocks.
        let refused = (0..QUEUE * 4).filter(|_| !pool.hash(&made)).count();
        assert!(refused > 0);
    }
}
