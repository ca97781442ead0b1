//! SASL PLAIN (`AUTHENTICATE`) and NickServ: an IRC client logging in to the chat's accounts,
//! as the chat's own `/login` (with its throttling), and the accounts' answers as IRC users
//! expect them.

use super::caps::Cap;
use super::*;

/// The longest SASL payload taken (base64), in all its chunks.
pub(super) const MAX_SASL: usize = 1200;

/// The account notices and errors of the chat that NickServ says, as IRC users expect.
pub(super) const NICKSERV_CODES: &[&str] = &[
    "registered",
    "logged_in",
    "logged_out",
    "password_changed",
    "unregistered",
    "account_dropped",
    "wrong_login",
    "login_wait",
    "invalid_password",
    "guest_name",
    "already_registered",
    "not_logged_in",
    "too_many_accounts",
    "no_accounts",
    "hash_timeout",
    "busy",
];

/// Decodes standard base64 (padding optional); `None` if it is not base64.
pub(super) fn base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in text.trim_end_matches('=').bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

impl Session {
    /// `AUTHENTICATE`: SASL PLAIN, against the chat's accounts (a `/login`).
    pub(super) fn authenticate(
        &mut self,
        msg: &Message<'_>,
        to_hub: &mut Vec<u8>,
        to_client: &mut Vec<u8>,
    ) {
        let arg = msg.params.first().copied().unwrap_or("");
        let failed = |s: &mut Self, to_client: &mut Vec<u8>| {
            s.sasl_step = Sasl::Idle;
            s.numeric(to_client, "904", &["SASL authentication failed"]);
        };
        if self.account.is_some() {
            return self.numeric(to_client, "907", &["You have already authenticated"]);
        }
        if !self.has(Cap::SASL) || self.stage != Stage::Registering {
            return failed(self, to_client);
        }
        if arg == "*" {
            self.sasl_step = Sasl::Idle;
            return self.numeric(to_client, "906", &["SASL authentication aborted"]);
        }
        match std::mem::replace(&mut self.sasl_step, Sasl::Idle) {
            Sasl::Idle if arg.eq_ignore_ascii_case("PLAIN") => {
                self.sasl_step = Sasl::Payload(String::new());
                self.put(to_client, None, "AUTHENTICATE", &["+"], false);
            }
            Sasl::Idle => {
                self.numeric(
                    to_client,
                    "908",
                    &["PLAIN", "are available SASL mechanisms"],
                );
                failed(self, to_client);
            }
            Sasl::Payload(mut so_far) => {
                if arg != "+" {
                    so_far.push_str(arg);
                }
                if so_far.len() > MAX_SASL {
                    return failed(self, to_client);
                }
                if arg.len() == 400 {
                    // More to come.
                    self.sasl_step = Sasl::Payload(so_far);
                    return;
                }
                let plain = base64(&so_far).and_then(|b| String::from_utf8(b).ok());
                let mut parts = plain.as_deref().unwrap_or("").split('\0');
                let (authz, authc, password) = (parts.next(), parts.next(), parts.next());
                let name = authc.filter(|a| !a.is_empty()).or(authz).unwrap_or("");
                let password = password.unwrap_or("");
                if !command::valid_name(name) || password.is_empty() || password.contains(' ') {
                    return failed(self, to_client);
                }
                if let Some(pass) = self.pass.take() {
                    hub_line(to_hub, &["/pass", &pass]);
                }
                self.sasl_step = Sasl::Checking;
                hub_line(to_hub, &["/login", name, password]);
                // For the welcome, if the login is granted (held until then).
                hub_line(to_hub, &["/who", crate::hub::LOBBY]);
                if self.has(Cap::ECHO_MESSAGE) {
                    hub_line(to_hub, &["/echo", "on"]);
                }
            }
            Sasl::Checking => {
                self.sasl_step = Sasl::Checking;
                self.numeric(to_client, "904", &["SASL authentication failed"]);
            }
        }
    }

    /// `PRIVMSG NickServ :...`: the accounts' commands as IRC users know them.
    pub(super) fn nickserv(&mut self, text: &str, to_hub: &mut Vec<u8>, to_client: &mut Vec<u8>) {
        let words: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();
        let verb = words
            .first()
            .map(|w| w.to_ascii_uppercase())
            .unwrap_or_default();
        match (verb.as_str(), &words[1..]) {
            ("IDENTIFY", [password]) => {
                let nick = self.target().to_string();
                hub_line(to_hub, &["/login", &nick, password]);
            }
            ("IDENTIFY", [name, password]) => hub_line(to_hub, &["/login", name, password]),
            ("REGISTER", [password, ..]) => hub_line(to_hub, &["/register", password]),
            ("LOGOUT", []) => hub_line(to_hub, &["/logout"]),
            _ => {
                let me = self.target().to_string();
                let help = "IDENTIFY [NAME] PASSWORD, REGISTER PASSWORD, or LOGOUT";
                self.say(to_client, NICKSERV, "NOTICE", &me, help, false);
            }
        }
    }
}
