//! The gates: a connection from a banned address, or to a server with a password, waits at
//! one (no name, no room, no one told of it) until it gives the operators' password or the
//! server's, or is closed.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::access::Guess;
use super::{ClientId, Hub, Outbox};
use crate::command::{self, Command, Input};

/// A client that has not given the server's password by then is closed.
pub const PASSWORD_TIME: Duration = Duration::from_secs(60);
/// Wrong tries of the server's password before the connection is closed.
pub const PASSWORD_TRIES: u32 = 3;
/// A client from a banned address is told so and closed after this long, or at its first line
/// unless that is `/oper` with the operators' password.
pub const BANNED_GRACE: Duration = Duration::from_secs(2);

/// A connection not let in yet.
pub(super) struct Gate {
    pub(super) ip: IpAddr,
    pub(super) why: Held,
    /// Closed then.
    pub(super) deadline: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Held {
    /// The server has a password: wrong tries so far.
    Password { tries: u32 },
    /// Its address is banned: only an operator's password lets it in.
    Banned,
}

impl Hub {
    /// Keeps a connection at a gate for at most `time`.
    pub(super) fn hold(&mut self, id: ClientId, ip: IpAddr, why: Held, time: Duration) {
        let deadline = self.now + time;
        self.gated.insert(id, Gate { ip, why, deadline });
        self.next_gate_deadline = Some(
            self.next_gate_deadline
                .map_or(deadline, |d| d.min(deadline)),
        );
    }

    /// Closes a connection at a gate.
    pub(super) fn close_gate(&mut self, id: ClientId, out: &mut impl Outbox) {
        if let Some(gate) = self.gated.remove(&id) {
            self.uncount_ip(gate.ip);
            self.set_json(id, false);
            out.close(id);
        }
    }

    pub(super) fn uncount_ip(&mut self, ip: IpAddr) {
        if self.config.max_per_ip > 0
            && let Some(count) = self.per_ip.get_mut(&crate::cidr::limit_key(ip))
        {
            *count -= 1;
            if *count == 0 {
                self.per_ip.remove(&crate::cidr::limit_key(ip));
            }
        }
    }

    /// A line from a connection at a gate: only the password it waits for lets it in.
    pub(super) fn gate_line(&mut self, id: ClientId, text: &str, out: &mut impl Outbox) {
        let Some(gate) = self.gated.get(&id) else {
            return;
        };
        let (ip, why) = (gate.ip, gate.why);
        let parsed = command::parse(text);
        if let Ok(Input::Command(Command::Oper(guess))) = parsed
            && let Some(secret) = &self.config.oper_password
        {
            let guess = self.access.guess(secret, guess, ip, self.now);
            match guess {
                Guess::Right => {
                    self.gated.remove(&id);
                    log::info!("{ip}: let in as an operator");
                    self.admit(id, ip, out);
                    return self.make_oper(id, out);
                }
                Guess::Wrong => log::warn!("{ip}: wrong operator password"),
                Guess::Wait(_) => {}
            }
            if why == Held::Banned {
                self.error(id, "banned", &"banned", out);
                return self.close_gate(id, out);
            }
            return self.wrong_password(id, ip, guess, out);
        }
        if why == Held::Banned {
            self.error(id, "banned", &"banned", out);
            return self.close_gate(id, out);
        }
        match parsed {
            Ok(Input::Command(Command::Pass(guess))) => {
                let Some(secret) = &self.config.password else {
                    return;
                };
                match self.access.guess(secret, guess, ip, self.now) {
                    Guess::Right => {
                        self.gated.remove(&id);
                        self.admit(id, ip, out);
                    }
                    wrong => {
                        log::info!("{ip}: wrong server password");
                        self.wrong_password(id, ip, wrong, out);
                    }
                }
            }
            Ok(Input::Command(Command::Quit(_))) => {
                self.notice(id, "bye", &"bye", out);
                self.close_gate(id, out);
            }
            Ok(Input::Command(Command::Format(json))) => self.set_json(id, json),
            _ => self.error(id, "password_required", &"password required", out),
        }
    }

    /// A wrong try at the server's password: closed after [`PASSWORD_TRIES`].
    fn wrong_password(&mut self, id: ClientId, ip: IpAddr, guess: Guess, out: &mut impl Outbox) {
        let Some(Gate {
            why: Held::Password { tries },
            ..
        }) = self.gated.get_mut(&id)
        else {
            return;
        };
        if let Guess::Wait(wait) = guess {
            // Not checked, so not a try: how long to wait, rounded up (not the tries left).
            let msg = format!(
                "too many wrong passwords from {ip}; try again in {} s",
                seconds_up(wait)
            );
            return self.error(id, "password_wait", &msg, out);
        }
        *tries += 1;
        let left = PASSWORD_TRIES.saturating_sub(*tries);
        let msg = "wrong password";
        let code = "wrong_password";
        if left == 0 {
            self.error(id, code, &msg, out);
            return self.close_gate(id, out);
        }
        let plural = if left == 1 { "" } else { "s" };
        let msg = format!(
            "{msg} ({left} tr{} left)",
            if plural.is_empty() { "y" } else { "ies" }
        );
        self.error(id, code, &msg, out);
    }
}

/// Whole seconds, rounded up (1.2 s is 2 s): never "try again in 1 s" with more to wait.
pub(super) fn seconds_up(d: std::time::Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}
