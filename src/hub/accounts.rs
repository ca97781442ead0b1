//! Accounts: names people own. The registry (each account's name, its password's Argon2id
//! hash, a ban), the private messages that wait for an owner who is away, and the slowing of
//! wrong tries by address and by account. Pure bookkeeping: the hashing is done by a pool
//! beside the hub ([`Hasher`], through [`super::Outbox::hash`]), whose answers come back as
//! [`super::Event::Hashed`]; what the commands do with them is in [`super::login`].

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::ClientId;
use super::throttle::Throttle;

/// The shortest password an account may have, in bytes.
pub const MIN_PASSWORD: usize = 8;
/// The longest, in bytes.
pub const MAX_PASSWORD: usize = 256;
/// Most private messages waiting for one account; past it, the oldest goes.
pub const MAX_WAITING: usize = 100;
/// Most accounts registered from one address (an IPv6 /64 counted as one) in
/// [`REGISTRATIONS_WINDOW`]: each is a hash, a row on disk and a name kept from everyone else.
pub const REGISTRATIONS_PER_ADDRESS: u32 = 10;
pub const REGISTRATIONS_WINDOW: Duration = Duration::from_secs(3600);
/// Most addresses whose registrations are counted at once; past it, the oldest go.
const MAX_REGISTRANTS: usize = 4096;

/// The longest a client's lines wait for the hashing pool's answer; past it, it is told the
/// server did not answer, and its lines go on.
pub const HASH_WAIT: Duration = Duration::from_secs(10);

/// Work for the hashing pool; its answer comes back as [`super::Event::Hashed`].
#[derive(Debug, Clone, Copy)]
pub enum Hashing<'a> {
    /// Is `password` the one `hash` was made of (`None`: no such account; checked against a
    /// decoy all the same, and never a match)? And if it is and `new` is given, a hash of `new`.
    Check {
        to: ClientId,
        serial: u64,
        hash: Option<&'a str>,
        password: &'a str,
        new: Option<&'a str>,
    },
    /// A hash of `password`.
    Make {
        to: ClientId,
        serial: u64,
        password: &'a str,
    },
}

/// The hashing pool's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hashed {
    pub to: ClientId,
    /// The work's number: an answer for a client gone meanwhile (its id given to another) is
    /// dropped.
    pub serial: u64,
    /// The password matched (a [`Hashing::Make`]: it was hashed).
    pub matched: bool,
    /// The hash made, if any.
    pub hash: Option<String>,
}

/// Where passwords are hashed: the pool implements it, a driver's outbox hands it over. It
/// never waits.
pub trait Hasher {
    /// Queues `work`; `false` when the pool has too much already.
    fn hash(&self, work: &Hashing<'_>) -> bool;
}

/// A private message kept for an account's owner while away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub from: Box<str>,
    /// When it was sent, in microseconds of Unix time.
    pub at: u64,
    pub text: Box<str>,
}

/// An account as a restarted server finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoredAccount {
    pub name: String,
    pub hash: String,
    /// Seconds left of its ban, if it is banned.
    pub banned: Option<u64>,
    /// Oldest first.
    pub waiting: Vec<Waiting>,
}

/// One account.
#[derive(Debug)]
pub struct Account {
    /// As it was registered.
    pub name: Box<str>,
    /// A PHC string.
    pub hash: Box<str>,
    pub banned_until: Option<Instant>,
    /// Oldest first, at most [`MAX_WAITING`].
    pub waiting: VecDeque<Waiting>,
}

impl Account {
    /// How much longer it is banned, if it is.
    pub fn banned(&self, now: Instant) -> Option<Duration> {
        self.banned_until
            .filter(|&until| until > now)
            .map(|until| until - now)
    }
}

/// What a client's password is being hashed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// `/login NAME`: the name as asked.
    Login(Box<str>),
    /// `/register`: the name it had when it asked.
    Register(Box<str>),
    Password,
    Unregister,
    /// In a cluster: the account `name` with this hash is being made across the cluster.
    Create {
        name: Box<str>,
        hash: Box<str>,
    },
    /// In a cluster: the name of the account logged in to is being taken from whoever holds it.
    Take(Box<str>),
}

/// A client waiting for the pool: its work's number, when it asked, and why.
#[derive(Debug)]
pub struct Pending {
    pub serial: u64,
    pub at: Instant,
    pub purpose: Purpose,
}

/// Every account, the clients waiting for the pool, and the wrong tries.
#[derive(Default)]
pub struct Accounts {
    /// By lower-cased name.
    by_key: HashMap<Box<str>, Account>,
    pub pending: HashMap<ClientId, Pending>,
    /// Work given to the pool so far.
    pub serials: u64,
    /// Wrong tries by address (an IPv6 /64 counted as one) and by account.
    by_address: Throttle<IpAddr>,
    by_account: Throttle<Box<str>>,
    /// Registrations by address: how many, since when.
    registrations: HashMap<IpAddr, (u32, Instant)>,
}

fn key(name: &str) -> Box<str> {
    name.to_ascii_lowercase().into()
}

impl Accounts {
    pub fn get(&self, name: &str) -> Option<&Account> {
        self.by_key.get(key(name).as_ref())
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Account> {
        self.by_key.get_mut(key(name).as_ref())
    }

    /// Whether `name` is someone's (ignoring case).
    pub fn registered(&self, name: &str) -> bool {
        !self.by_key.is_empty() && self.by_key.contains_key(key(name).as_ref())
    }

    /// Adds (or replaces) `name`'s account, its messages kept.
    pub fn insert(&mut self, name: &str, hash: &str) {
        let account = self.by_key.entry(key(name)).or_insert_with(|| Account {
            name: name.into(),
            hash: "".into(),
            banned_until: None,
            waiting: VecDeque::new(),
        });
        account.hash = hash.into();
    }

    pub fn remove(&mut self, name: &str) -> Option<Account> {
        self.by_key.remove(key(name).as_ref())
    }

    /// Keeps a message for `to`'s owner; the oldest goes past [`MAX_WAITING`]. False if
    /// there is no such account.
    pub fn wait(&mut self, to: &str, waiting: Waiting) -> bool {
        let Some(account) = self.get_mut(to) else {
            return false;
        };
        if account.waiting.len() >= MAX_WAITING {
            account.waiting.pop_front();
        }
        account.waiting.push_back(waiting);
        true
    }

    /// How long a try from `ip` at `name` must still wait, if it must: checked before any
    /// hashing, so a flood of tries costs no work.
    pub fn try_wait(&mut self, ip: IpAddr, name: &str, now: Instant) -> Option<Duration> {
        let by_address = self.by_address.wait(&crate::cidr::limit_key(ip), now);
        let by_account = self.by_account.wait(&key(name), now);
        by_address.max(by_account)
    }

    pub fn wrong_try(&mut self, ip: IpAddr, name: &str, now: Instant) {
        self.by_address.wrong(&crate::cidr::limit_key(ip), now);
        self.by_account.wrong(&key(name), now);
    }

    pub fn right_try(&mut self, ip: IpAddr, name: &str) {
        self.by_address.right(&crate::cidr::limit_key(ip));
        self.by_account.right(&key(name));
    }

    /// Whether `ip` may register one more account now (see [`REGISTRATIONS_PER_ADDRESS`]);
    /// if so, it is counted.
    pub fn may_register(&mut self, ip: IpAddr, now: Instant) -> bool {
        let key = crate::cidr::limit_key(ip);
        if !self.registrations.contains_key(&key) && self.registrations.len() >= MAX_REGISTRANTS {
            self.registrations.retain(|_, (_, since)| {
                now.saturating_duration_since(*since) < REGISTRATIONS_WINDOW
            });
            if self.registrations.len() >= MAX_REGISTRANTS
                && let Some(oldest) = self
                    .registrations
                    .iter()
                    .min_by_key(|(_, (_, since))| *since)
                    .map(|(ip, _)| *ip)
            {
                self.registrations.remove(&oldest);
            }
        }
        let (count, since) = self.registrations.entry(key).or_insert((0, now));
        if now.saturating_duration_since(*since) >= REGISTRATIONS_WINDOW {
            *count = 0;
            *since = now;
        }
        if *count >= REGISTRATIONS_PER_ADDRESS {
            return false;
        }
        *count += 1;
        true
    }

    /// A new work number, and `id` waiting for it.
    pub fn ask(&mut self, id: ClientId, purpose: Purpose, now: Instant) -> u64 {
        self.serials += 1;
        self.pending.insert(
            id,
            Pending {
                serial: self.serials,
                at: now,
                purpose,
            },
        );
        self.serials
    }
}
