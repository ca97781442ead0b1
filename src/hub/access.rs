//! Who may come in and who may moderate: the server's and the operators' passwords, bans by
//! address, and the slowing of password guesses. Pure bookkeeping: the time is always passed
//! in, and the hub decides what each answer means to the clients.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// A password read from a file. Never printed, compared in constant time.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<[u8]>);

impl Secret {
    pub fn new(text: &str) -> Secret {
        Secret(text.as_bytes().into())
    }

    /// Whether `guess` is the secret, taking as long whatever the first wrong byte.
    pub fn matches(&self, guess: &str) -> bool {
        let guess = guess.as_bytes();
        let mut diff = (self.0.len() != guess.len()) as u8;
        for (i, &b) in self.0.iter().enumerate() {
            diff |= b ^ guess.get(i).copied().unwrap_or(!b);
        }
        diff == 0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

pub use super::throttle::FREE_GUESSES;
use super::throttle::Throttle;

/// One ban, by address.
#[derive(Debug, Clone)]
pub struct Ban {
    pub until: Instant,
    /// The operator who set it.
    pub by: Box<str>,
}

/// What [`Access::guess`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guess {
    Right,
    Wrong,
    /// Too many wrong guesses from this address lately: not even checked. Try after this.
    Wait(Duration),
}

/// Bans and wrong-guess counts.
#[derive(Default)]
pub struct Access {
    bans: HashMap<IpAddr, Ban>,
    guesses: Throttle<IpAddr>,
    /// The bans that came from the cluster's store (see [`Access::keep_only`]), not from a
    /// live ban of this node's or another's.
    kept: std::collections::HashSet<IpAddr>,
    /// New connections by address: tokens left, and when they were counted.
    connects: HashMap<IpAddr, (f64, Instant)>,
}

/// Most addresses whose recent connections are counted at once: past it, those whose tokens
/// are back to full are forgotten, then, should that not be enough, all (a flood of addresses
/// is not slowed by this limit, only bounded in memory).
const MAX_CONNECTERS: usize = 16_384;

impl Access {
    /// Whether `ip` may open one more connection now, at `per_minute` new connections a minute
    /// (a bucket of as many, refilled evenly).
    pub fn may_connect(&mut self, ip: IpAddr, now: Instant, per_minute: u32) -> bool {
        if per_minute == 0 {
            return true;
        }
        let full = f64::from(per_minute);
        let refill = |(tokens, last): (f64, Instant)| {
            let minutes = now.saturating_duration_since(last).as_secs_f64() / 60.0;
            (tokens + minutes * full).min(full)
        };
        if self.connects.len() >= MAX_CONNECTERS && !self.connects.contains_key(&ip) {
            self.connects.retain(|_, &mut seen| refill(seen) < full);
            if self.connects.len() >= MAX_CONNECTERS {
                self.connects.clear();
            }
        }
        let tokens = self.connects.get(&ip).map_or(full, |&seen| refill(seen));
        if tokens < 1.0 {
            self.connects.insert(ip, (tokens, now));
            return false;
        }
        self.connects.insert(ip, (tokens - 1.0, now));
        true
    }

    /// How much longer `ip` is banned, if it is.
    pub fn banned(&mut self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let ban = self.bans.get(&ip)?;
        if ban.until <= now {
            self.bans.remove(&ip);
            return None;
        }
        Some(ban.until - now)
    }

    pub fn ban(&mut self, ip: IpAddr, until: Instant, by: &str) {
        self.kept.remove(&ip);
        self.bans.insert(
            ip,
            Ban {
                until,
                by: by.into(),
            },
        );
    }

    /// Lifts the ban on `ip`; false if there was none.
    pub fn unban(&mut self, ip: IpAddr, now: Instant) -> bool {
        self.kept.remove(&ip);
        self.bans.remove(&ip).is_some_and(|ban| ban.until > now)
    }

    /// The bans the cluster's store holds now, `(address, until, by)`: they replace those an
    /// earlier read of the store gave (a ban lifted between two reads is lifted here too);
    /// bans this node made or heard of live stay.
    pub fn keep_only(&mut self, stored: &[(IpAddr, Instant, &str)]) {
        let now: std::collections::HashSet<IpAddr> = stored.iter().map(|b| b.0).collect();
        for ip in std::mem::take(&mut self.kept) {
            if !now.contains(&ip) {
                self.bans.remove(&ip);
            }
        }
        for &(ip, until, by) in stored {
            self.ban(ip, until, by);
            self.kept.insert(ip);
        }
    }

    /// The bans in force, soonest to end first.
    pub fn bans(&mut self, now: Instant) -> Vec<(IpAddr, Ban)> {
        self.bans.retain(|_, ban| ban.until > now);
        let mut bans: Vec<_> = self.bans.iter().map(|(ip, b)| (*ip, b.clone())).collect();
        bans.sort_by_key(|(ip, b)| (b.until, *ip));
        bans
    }

    /// Checks a password guess from `ip`, unless that address has guessed wrong too often
    /// lately; counts wrong guesses, and forgets them after a right one.
    pub fn guess(&mut self, secret: &Secret, guess: &str, ip: IpAddr, now: Instant) -> Guess {
        if let Some(wait) = self.guesses.wait(&ip, now) {
            return Guess::Wait(wait);
        }
        if secret.matches(guess) {
            self.guesses.right(&ip);
            return Guess::Right;
        }
        self.guesses.wrong(&ip, now);
        Guess::Wrong
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn new_connections_are_paced_per_address() {
        let mut a = Access::default();
        let t = Instant::now();
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        let other: IpAddr = "203.0.113.8".parse().unwrap();
        for _ in 0..3 {
            assert!(a.may_connect(ip, t, 3));
        }
        assert!(!a.may_connect(ip, t, 3), "a fourth in the same minute");
        assert!(a.may_connect(other, t, 3), "another address");
        // A third of a minute later, one token is back.
        let later = t + Duration::from_secs(20);
        assert!(a.may_connect(ip, later, 3));
        assert!(!a.may_connect(ip, later, 3));
        assert!(a.may_connect(ip, t, 0), "0: no limit");
    }

    use super::super::throttle::FIRST_GUESS_WAIT;
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn secrets_match_exactly() {
        let s = Secret::new("hunter2");
        assert!(s.matches("hunter2"));
        for wrong in ["", "hunter", "hunter22", "Hunter2", "hunter3"] {
            assert!(!s.matches(wrong), "{wrong}");
        }
        assert!(Secret::new("").matches(""));
        assert_eq!(format!("{s:?}"), "Secret(..)");
    }

    #[test]
    fn bans_expire_and_lift() {
        let t = Instant::now();
        let mut a = Access::default();
        a.ban(A, t + Duration::from_secs(60), "op");
        assert_eq!(a.banned(A, t), Some(Duration::from_secs(60)));
        assert_eq!(a.banned(B, t), None);
        assert_eq!(a.bans(t).len(), 1);
        assert_eq!(a.banned(A, t + Duration::from_secs(60)), None);
        assert!(a.bans(t + Duration::from_secs(61)).is_empty());
        a.ban(A, t + Duration::from_secs(60), "op");
        assert!(a.unban(A, t));
        assert!(!a.unban(A, t));
        assert_eq!(a.banned(A, t), None);
    }

    #[test]
    fn bans_are_listed_soonest_first() {
        let t = Instant::now();
        let mut a = Access::default();
        a.ban(A, t + Duration::from_secs(90), "op");
        a.ban(B, t + Duration::from_secs(30), "root");
        let bans = a.bans(t);
        assert_eq!(bans[0].0, B);
        assert_eq!(&*bans[0].1.by, "root");
        assert_eq!(bans[1].0, A);
    }

    #[test]
    fn wrong_guesses_are_slowed_per_address() {
        let t = Instant::now();
        let s = Secret::new("pw");
        let mut a = Access::default();
        for _ in 0..FREE_GUESSES {
            assert_eq!(a.guess(&s, "no", A, t), Guess::Wrong);
        }
        // Even the right one waits now; another address does not.
        assert_eq!(a.guess(&s, "pw", A, t), Guess::Wait(FIRST_GUESS_WAIT));
        assert_eq!(a.guess(&s, "pw", B, t), Guess::Right);
        let later = t + FIRST_GUESS_WAIT;
        assert_eq!(a.guess(&s, "no", A, later), Guess::Wrong);
        assert_eq!(
            a.guess(&s, "pw", A, later),
            Guess::Wait(FIRST_GUESS_WAIT * 2)
        );
        assert_eq!(
            a.guess(&s, "pw", A, later + FIRST_GUESS_WAIT * 2),
            Guess::Right
        );
        // Forgotten after a right guess.
        assert_eq!(a.guess(&s, "no", A, later), Guess::Wrong);
        assert_eq!(a.guess(&s, "pw", A, later), Guess::Right);
    }
}
