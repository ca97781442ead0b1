//! What the accounts' commands do: `/register`, `/login`, `/logout`, `/password`,
//! `/unregister`, and the operators' `/drop`; the hashing pool's answers; a registered name
//! kept for its owner; the private messages that wait for an owner who is away, given at the
//! next login. The registry itself is in [`super::accounts`].
//!
//! A password is checked or hashed off the loop (see [`Outbox::hash`]); meanwhile the
//! client's later lines wait, as they wait for a cluster's answer to a `/nick`, so that what
//! it says after `/login` is said under the name the login gives. Wrong tries are slowed by
//! address and by account before any hashing is done, and a wrong name costs the pool what a
//! wrong password does: the answers are the same, after the same work.

use super::accounts::{HASH_WAIT, Hashed, Hashing, MAX_PASSWORD, MIN_PASSWORD, Purpose, Waiting};
use super::gate::seconds_up;
use super::kept::Keep;
use super::{Body, ClientId, Hub, Outbox, minutes};
use crate::command::Command;

impl Hub {
    /// One of the accounts' commands, from a client in the chat.
    pub(super) fn account_command(
        &mut self,
        id: ClientId,
        cmd: Command<'_>,
        out: &mut impl Outbox,
    ) {
        match cmd {
            Command::Register(password) => self.register(id, password, out),
            Command::Login { name, password } => self.login(id, name, password, out),
            Command::Logout => self.logout(id, out),
            Command::Password { old, new } => self.change_password(id, old, new, out),
            Command::Unregister(password) => self.unregister(id, password, out),
            Command::Drop(name) => self.drop_account(id, name, out),
            _ => {}
        }
    }

    /// Whether a name is someone's account, and `id` is not logged in to it.
    pub(super) fn owned_by_another(&self, id: ClientId, name: &str) -> bool {
        self.accounts.registered(name)
            && !self
                .member(id)
                .is_some_and(|m| m.logged_in && m.name.eq_ignore_ascii_case(name))
    }

    /// The client is logged in: its account's name; otherwise it is told so.
    fn logged_in(&mut self, id: ClientId, out: &mut impl Outbox) -> Option<Box<str>> {
        match self.member(id) {
            Some(m) if m.logged_in => Some(m.name.clone()),
            Some(_) => {
                self.error(id, "not_logged_in", &"you are not logged in", out);
                None
            }
            None => None,
        }
    }

    /// A new password is as long as it must be; otherwise the client is told.
    fn fits(&mut self, id: ClientId, password: &str, out: &mut impl Outbox) -> bool {
        if (MIN_PASSWORD..=MAX_PASSWORD).contains(&password.len()) {
            return true;
        }
        let msg = format!("a password is {MIN_PASSWORD} to {MAX_PASSWORD} bytes, with no spaces");
        self.error(id, "invalid_password", &msg, out);
        false
    }

    /// Whether a try at `name`'s password from this client may be checked now (wrong tries
    /// lately, from its address or at that account, make it wait); otherwise it is told.
    fn may_try(&mut self, id: ClientId, name: &str, out: &mut impl Outbox) -> bool {
        let Some(ip) = self.member(id).map(|m| m.ip) else {
            return false;
        };
        let Some(wait) = self.accounts.try_wait(ip, name, self.now) else {
            return true;
        };
        let msg = format!("too many wrong tries; try again in {} s", seconds_up(wait));
        self.error(id, "login_wait", &msg, out);
        false
    }

    /// `/register PASSWORD`: the name the client has becomes its account.
    fn register(&mut self, id: ClientId, password: &str, out: &mut impl Outbox) {
        let Some(m) = self.member(id) else { return };
        let (name, ip) = (m.name.clone(), m.ip);
        if m.logged_in {
            let msg = format!("you are logged in as {name} already");
            return self.error(id, "already_registered", &msg, out);
        }
        if super::commands::is_guest_number(&name) {
            let msg = "a guest name cannot be registered: /nick NAME first";
            return self.error(id, "guest_name", &msg, out);
        }
        if self.accounts.registered(&name) {
            let msg = format!("{name} is registered: /login {name} PASSWORD");
            return self.error(id, "name_registered", &msg, out);
        }
        if !self.fits(id, password, out) {
            return;
        }
        if !self.accounts.may_register(ip, self.now) {
            let msg = format!(
                "too many accounts registered from your address; try again later (at most {} an hour)",
                super::accounts::REGISTRATIONS_PER_ADDRESS
            );
            return self.error(id, "too_many_accounts", &msg, out);
        }
        let password = password.to_string();
        self.hash_for(id, Purpose::Register(name), Work::Make(password), out);
    }

    /// `/login NAME PASSWORD`.
    fn login(&mut self, id: ClientId, name: &str, password: &str, out: &mut impl Outbox) {
        if !self.may_try(id, name, out) {
            return;
        }
        let hash = self.accounts.get(name).map(|a| a.hash.to_string());
        let work = Work::Check {
            hash,
            password: password.to_string(),
            new: None,
        };
        self.hash_for(id, Purpose::Login(name.into()), work, out);
    }

    /// `/logout`: the client becomes a guest again (its name is its account's).
    fn logout(&mut self, id: ClientId, out: &mut impl Outbox) {
        let Some(name) = self.logged_in(id, out) else {
            return;
        };
        let by_account = self.is_operator_account(&name);
        let mut claimed = false;
        if let Some(Some(m)) = self.members.get_mut(id) {
            m.logged_in = false;
            claimed = std::mem::take(&mut m.claimed);
            if by_account {
                m.oper = false;
            }
        }
        if claimed {
            // In a cluster: the name is no one's now (the account's still, for its owner).
            out.release(&name);
        }
        self.notice(id, "logged_out", &format_args!("logged out of {name}"), out);
        let guest = self.guest_name(out);
        self.rename_now(id, &name, &guest, out);
    }

    /// `/password OLD NEW`.
    fn change_password(&mut self, id: ClientId, old: &str, new: &str, out: &mut impl Outbox) {
        let Some(name) = self.logged_in(id, out) else {
            return;
        };
        if !self.fits(id, new, out) || !self.may_try(id, &name, out) {
            return;
        }
        let hash = self.accounts.get(&name).map(|a| a.hash.to_string());
        let work = Work::Check {
            hash,
            password: old.to_string(),
            new: Some(new.to_string()),
        };
        self.hash_for(id, Purpose::Password, work, out);
    }

    /// `/unregister PASSWORD`.
    fn unregister(&mut self, id: ClientId, password: &str, out: &mut impl Outbox) {
        let Some(name) = self.logged_in(id, out) else {
            return;
        };
        if !self.may_try(id, &name, out) {
            return;
        }
        let hash = self.accounts.get(&name).map(|a| a.hash.to_string());
        let work = Work::Check {
            hash,
            password: password.to_string(),
            new: None,
        };
        self.hash_for(id, Purpose::Unregister, work, out);
    }

    /// `/drop NAME`, operators only: the account goes; its owner, if here, keeps the name
    /// unowned.
    fn drop_account(&mut self, id: ClientId, name: &str, out: &mut impl Outbox) {
        let Some(op) = self.member(id) else { return };
        if !op.oper {
            return self.error(id, "not_operator", &"not an operator", out);
        }
        let op = op.name.clone();
        let Some(account) = self.accounts.remove(name) else {
            let msg = format!("no such account: {name}");
            return self.error(id, "no_such_account", &msg, out);
        };
        log::info!("{op} dropped the account {}", account.name);
        out.keep(Keep::Unregistered(&account.name));
        self.share_unregistered(&account.name, out);
        if let Some(owner) = self.client_named(&account.name)
            && let Some(Some(m)) = self.members.get_mut(owner)
            && m.logged_in
        {
            m.logged_in = false;
            let msg = format!("your account {} was dropped by {op}", account.name);
            self.notice(owner, "account_dropped", &msg, out);
        }
        let msg = format!("account {} dropped", account.name);
        self.notice(id, "account_dropped", &msg, out);
    }

    /// Queues `work` for the pool, `id` waiting for its answer.
    fn hash_for(&mut self, id: ClientId, purpose: Purpose, work: Work, out: &mut impl Outbox) {
        let serial = self.accounts.ask(id, purpose, self.now);
        let hashing = match &work {
            Work::Make(password) => Hashing::Make {
                to: id,
                serial,
                password,
            },
            Work::Check {
                hash,
                password,
                new,
            } => Hashing::Check {
                to: id,
                serial,
                hash: hash.as_deref(),
                password,
                new: new.as_deref(),
            },
        };
        let queued = out.hash(hashing);
        if queued != Some(true) {
            self.accounts.pending.remove(&id);
        }
        match queued {
            Some(true) => {}
            Some(false) => self.error(id, "busy", &"busy, try again", out),
            None => {
                let msg = "accounts are not available on this server";
                self.error(id, "no_accounts", &msg, out);
            }
        }
    }

    /// The pool's answer: what the client asked for is done (or refused), then its held
    /// lines take effect.
    pub(super) fn hashed(&mut self, hashed: &Hashed, out: &mut impl Outbox) {
        let to = hashed.to;
        match self.accounts.pending.get(&to) {
            Some(p) if p.serial == hashed.serial => {}
            // For a client gone meanwhile, or one told already it timed out.
            _ => return,
        }
        let Some(pending) = self.accounts.pending.remove(&to) else {
            return;
        };
        if self.member(to).is_none() {
            return;
        }
        match pending.purpose {
            Purpose::Login(name) => self.login_answer(to, &name, hashed.matched, out),
            Purpose::Register(name) => self.register_answer(to, &name, hashed.hash.as_deref(), out),
            Purpose::Password => self.password_answer(to, hashed, out),
            Purpose::Unregister => self.unregister_answer(to, hashed.matched, out),
            // Not the pool's work.
            Purpose::Create { .. } | Purpose::Take(_) => {}
        }
        self.answered_for(to, out);
    }

    /// What `to` asked is done, unless the cluster is asked for more: announced now if it
    /// logged in first (see `super::quiet`), under the name the answer gave it, then its held
    /// lines take effect.
    pub(super) fn answered_for(&mut self, to: ClientId, out: &mut impl Outbox) {
        if self.accounts.pending.contains_key(&to) {
            return;
        }
        self.end_quiet(to);
        self.replay_held(to, out);
    }

    /// A wrong password (or a name no one registered): counted, and told the same way.
    fn wrong_try(&mut self, id: ClientId, name: &str, out: &mut impl Outbox) {
        if let Some(ip) = self.member(id).map(|m| m.ip) {
            log::info!("{ip}: wrong password for the account {name}");
            self.accounts.wrong_try(ip, name, self.now);
        }
        self.error(id, "wrong_login", &"wrong name or password", out);
    }

    fn login_answer(&mut self, id: ClientId, name: &str, matched: bool, out: &mut impl Outbox) {
        let Some(account) = self.accounts.get(name).filter(|_| matched) else {
            return self.wrong_try(id, name, out);
        };
        let (account_name, banned) = (account.name.clone(), account.banned(self.now));
        let Some(ip) = self.member(id).map(|m| m.ip) else {
            return;
        };
        self.accounts.right_try(ip, name);
        if let Some(left) = banned {
            let n = minutes(left);
            let msg = format!("{name} is banned ({n} more minute{})", plural(n));
            return self.error(id, "banned", &msg, out);
        }
        log::info!("{ip}: logged in as {account_name}");
        let holds = self.client_named(&account_name).is_some();
        if self.config.in_cluster() && !holds {
            // The name is taken across the cluster first, from whoever holds it: its node
            // closes that connection when told.
            self.config.tell_nodes(
                out,
                &Body::LoggedIn {
                    name: &account_name,
                },
            );
            let serial = self
                .accounts
                .ask(id, Purpose::Take(account_name.clone()), self.now);
            return out.take_name(id, serial, &account_name);
        }
        // On one node, or held on this one (the node's claim passes to the login).
        self.logged_in_as(id, &account_name, out);
    }

    /// `id` proved it owns `account_name` (and holds the name across the cluster, in one):
    /// whoever else has the name is closed, and it becomes the name's.
    pub(super) fn logged_in_as(&mut self, id: ClientId, account_name: &str, out: &mut impl Outbox) {
        let in_cluster = self.config.in_cluster();
        self.close_elsewhere(account_name, Some(id), out);
        let Some(m) = self.member(id) else { return };
        let old = m.name.to_string();
        let other_claim = m.claimed && !old.eq_ignore_ascii_case(account_name);
        if old != *account_name {
            self.rename_now(id, &old, account_name, out);
        }
        if other_claim {
            out.release(&old);
        }
        if let Some(Some(m)) = self.members.get_mut(id) {
            m.logged_in = true;
            // In a cluster, the name is this node's: taken (see `login_answer`), or passed on
            // from the connection here it closed, or this client's already.
            m.claimed = in_cluster;
        }
        let msg = format!("logged in as {account_name}");
        self.notice(id, "logged_in", &msg, out);
        self.account_operator(id, account_name, out);
        if self.config.in_cluster() {
            out.read_waiting(id, account_name);
        } else {
            self.give_waiting(id, account_name, out);
        }
    }

    /// Whoever has `name` but `except`, here or on another node, is gone: its owner logged
    /// in elsewhere. A client here that had it does not let go of its claim of the name (in a
    /// cluster) when `except` is to have it.
    pub(super) fn close_elsewhere(
        &mut self,
        name: &str,
        except: Option<ClientId>,
        out: &mut impl Outbox,
    ) {
        const WHY: &str = "logged in elsewhere";
        if let Some(holder) = self.client_named(name)
            && Some(holder) != except
        {
            if except.is_some()
                && let Some(Some(m)) = self.members.get_mut(holder)
            {
                m.claimed = false;
            }
            let msg = self.notices.error("logged_in_elsewhere", WHY);
            self.send(holder, &msg, out);
            self.remove(holder, Some(WHY), out);
        }
        let node = self
            .remotes
            .get(name.to_ascii_lowercase().as_str())
            .map(|r| r.node.clone());
        if let Some(node) = node {
            // Its node closes it too, and says so; that is no news by then.
            for room in self.remove_remote(&node, name) {
                let room_name = self.rooms[room].name.clone();
                let msg = self.notices.left(&room_name, name, Some(WHY));
                self.broadcast(room, None, &msg, out);
            }
        }
    }

    fn register_answer(
        &mut self,
        id: ClientId,
        name: &str,
        hash: Option<&str>,
        out: &mut impl Outbox,
    ) {
        let Some(hash) = hash else {
            let msg = "the password could not be hashed; try again";
            return self.error(id, "hash_failed", &msg, out);
        };
        let Some(now) = self.name(id).map(str::to_string) else {
            return;
        };
        if !now.eq_ignore_ascii_case(name) {
            let msg = "your name changed meanwhile: /register again";
            return self.error(id, "name_changed", &msg, out);
        }
        if self.accounts.registered(&now) {
            let msg = format!("{now} is registered: /login {now} PASSWORD");
            return self.error(id, "name_registered", &msg, out);
        }
        if self.config.in_cluster() {
            // Made across the cluster first: of nodes registering a name at once, one wins.
            let purpose = Purpose::Create {
                name: now.as_str().into(),
                hash: hash.into(),
            };
            let serial = self.accounts.ask(id, purpose, self.now);
            return out.create_account(id, serial, &now, hash);
        }
        self.registered(id, &now, hash, out);
    }

    /// `now`, the client's name, is its account now.
    pub(super) fn registered(
        &mut self,
        id: ClientId,
        now: &str,
        hash: &str,
        out: &mut impl Outbox,
    ) {
        self.accounts.insert(now, hash);
        self.share_account(now, out);
        out.keep(Keep::Account { name: now, hash });
        if let Some(Some(m)) = self.members.get_mut(id) {
            m.logged_in = true;
        }
        log::info!("account {now} registered");
        let msg = format!("{now} is registered: it is yours (/login {now} PASSWORD takes it back)");
        self.notice(id, "registered", &msg, out);
        self.account_operator(id, now, out);
    }

    fn password_answer(&mut self, id: ClientId, hashed: &Hashed, out: &mut impl Outbox) {
        let Some(name) = self.name(id).map(str::to_string) else {
            return;
        };
        if !hashed.matched {
            if let Some(ip) = self.member(id).map(|m| m.ip) {
                self.accounts.wrong_try(ip, &name, self.now);
            }
            return self.error(id, "wrong_password", &"wrong password", out);
        }
        let (Some(hash), Some(account)) = (&hashed.hash, self.accounts.get_mut(&name)) else {
            let msg = "the password could not be changed; try again";
            return self.error(id, "hash_failed", &msg, out);
        };
        account.hash = hash.as_str().into();
        out.keep(Keep::Account { name: &name, hash });
        self.share_account(&name, out);
        log::info!("account {name}: password changed");
        self.notice(id, "password_changed", &"password changed", out);
    }

    fn unregister_answer(&mut self, id: ClientId, matched: bool, out: &mut impl Outbox) {
        let Some(name) = self.name(id).map(str::to_string) else {
            return;
        };
        if !matched {
            if let Some(ip) = self.member(id).map(|m| m.ip) {
                self.accounts.wrong_try(ip, &name, self.now);
            }
            return self.error(id, "wrong_password", &"wrong password", out);
        }
        self.accounts.remove(&name);
        out.keep(Keep::Unregistered(&name));
        self.share_unregistered(&name, out);
        if let Some(Some(m)) = self.members.get_mut(id) {
            m.logged_in = false;
        }
        log::info!("account {name} unregistered");
        let msg = format!("{name} is no longer registered");
        self.notice(id, "unregistered", &msg, out);
    }

    fn is_operator_account(&self, name: &str) -> bool {
        self.config
            .operators
            .iter()
            .any(|op| op.eq_ignore_ascii_case(name))
    }

    /// An account named in `--operators` is an operator as soon as it logs in.
    fn account_operator(&mut self, id: ClientId, name: &str, out: &mut impl Outbox) {
        if self.is_operator_account(name) && self.member(id).is_some_and(|m| !m.oper) {
            log::info!("{name} is now an operator (by account)");
            self.make_oper(id, out);
        }
    }

    /// The messages that waited for `name`'s owner, between a count and an end.
    fn give_waiting(&mut self, id: ClientId, name: &str, out: &mut impl Outbox) {
        let Some(account) = self.accounts.get_mut(name) else {
            return;
        };
        let waiting: Vec<Waiting> = std::mem::take(&mut account.waiting).into();
        if !waiting.is_empty() {
            self.hand_waiting(id, name, &waiting, out);
            out.keep(Keep::Delivered(name));
        }
    }

    /// `waiting`, kept for `name`'s owner, given to it (`id`), between a count and an end.
    pub(super) fn hand_waiting(
        &mut self,
        id: ClientId,
        name: &str,
        waiting: &[Waiting],
        out: &mut impl Outbox,
    ) {
        if waiting.is_empty() {
            return;
        }
        let n = waiting.len();
        let text = format!("{n} message{} while you were away", plural(n as u64));
        self.notice(id, "away_messages", &text, out);
        for w in waiting {
            let msg = self.notices.waited(&w.from, name, &w.text, w.at);
            self.send(id, &msg, out);
        }
        self.notice(id, "end_of_messages", &"end of messages", out);
    }

    /// A private message for `to`, registered and not here: kept for its owner's next login.
    /// Whether it was (`false`: no such account).
    pub(super) fn keep_for_later(
        &mut self,
        id: ClientId,
        from: &str,
        to: &str,
        text: &str,
        out: &mut impl Outbox,
    ) -> bool {
        let at = self.wall_us();
        let Some(to) = self.accounts.get(to).map(|a| a.name.clone()) else {
            return false;
        };
        if self.config.in_cluster() {
            // Kept by the cluster, for whichever node its owner logs in to.
            out.keep_waiting(from, &to, at, text);
        } else {
            let waiting = Waiting {
                from: from.into(),
                at,
                text: text.into(),
            };
            self.accounts.wait(&to, waiting);
            out.keep(Keep::Waiting {
                to: &to,
                from,
                at,
                text,
            });
        }
        let msg = format!("{to} is away: your message waits for their next login");
        self.notice(id, "waiting", &msg, out);
        true
    }

    /// Clients the pool has not answered within [`HASH_WAIT`]: told, and their lines go on.
    pub(super) fn give_up_hashing(&mut self, out: &mut impl Outbox) {
        if self.accounts.pending.is_empty() {
            return;
        }
        let now = self.now;
        let late: Vec<ClientId> = self
            .accounts
            .pending
            .iter()
            .filter(|(_, p)| p.at + HASH_WAIT <= now)
            .map(|(&id, _)| id)
            .collect();
        for id in late {
            self.accounts.pending.remove(&id);
            let msg = "the server did not check the password in time; try again";
            self.error(id, "hash_timeout", &msg, out);
            self.answered_for(id, out);
        }
    }

    /// An account banned with its owner's address (`/ban` of a client logged in to it).
    pub(super) fn ban_account(&mut self, name: &str, secs: u64, out: &mut impl Outbox) {
        let until = self.now + std::time::Duration::from_secs(secs);
        if let Some(account) = self.accounts.get_mut(name) {
            account.banned_until = Some(until);
            let name = account.name.clone();
            out.keep(Keep::AccountBan { name: &name, secs });
            self.share_account(&name, out);
        }
    }
}

/// The password work for the pool, owned until it is queued.
enum Work {
    Make(String),
    Check {
        hash: Option<String>,
        password: String,
        new: Option<String>,
    },
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
