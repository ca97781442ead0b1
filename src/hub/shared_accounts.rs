//! Accounts across a cluster: every node knows every account (read from the cluster's bucket
//! at start, and told of each change as it is made), so that a name registered on one node is
//! refused to guests on all of them and its owner logs in on any. A registration is made in the
//! bucket before it counts (of two nodes registering a name at once, one wins); a login takes
//! the name from whoever holds it, whose node closes that connection; the messages that wait
//! for an owner who is away are the cluster's, given by the node the owner logs in to.
//!
//! The hub asks through its outbox (`create_account`, `take_name`, `read_waiting`, ...), and the
//! answers come back as [`super::Event::Answered`] and [`super::Event::Waited`].

use std::time::Duration;

use super::accounts::{Purpose, Waiting};
use super::{Body, Claim, ClientId, Hub, Outbox};

impl Hub {
    /// Unix seconds now.
    fn unix_secs(&self) -> u64 {
        self.wall_us() / 1_000_000
    }

    /// In a cluster: `name`'s account as it is now, told to the other nodes and kept in the
    /// cluster's bucket.
    pub(super) fn share_account(&mut self, name: &str, out: &mut impl Outbox) {
        if !self.config.in_cluster() {
            return;
        }
        let now = self.now;
        let unix = self.unix_secs();
        let Some(account) = self.accounts.get(name) else {
            return;
        };
        let until = account
            .banned(now)
            .map_or(0, |left| unix + left.as_secs().max(1));
        let (name, hash) = (account.name.clone(), account.hash.clone());
        self.config.tell_nodes(
            out,
            &Body::Account {
                name: &name,
                until,
                hash: &hash,
            },
        );
        out.store_account(&name, until, &hash);
    }

    /// In a cluster: `name`'s account is gone, on every node.
    pub(super) fn share_unregistered(&mut self, name: &str, out: &mut impl Outbox) {
        if !self.config.in_cluster() {
            return;
        }
        self.config.tell_nodes(out, &Body::Unregistered { name });
        out.forget_account(name);
    }

    /// An account as the cluster has it (kept, or told by another node): known here from now
    /// on, its password and ban as given.
    pub(super) fn account_known(&mut self, name: &str, until: u64, hash: &str) {
        let unix = self.unix_secs();
        self.accounts.insert(name, hash);
        let until = (until > unix).then(|| self.now + Duration::from_secs(until - unix));
        if let Some(account) = self.accounts.get_mut(name) {
            account.banned_until = until;
        }
    }

    /// The accounts the cluster keeps, read at start or once its link is up.
    pub(super) fn kept_accounts(&mut self, accounts: &[(&str, u64, &str)]) {
        for &(name, until, hash) in accounts {
            self.account_known(name, until, hash);
        }
        log::info!("cluster: {} accounts known", accounts.len());
    }

    /// Another node says `name`'s account is gone: a client here logged in to it is not any
    /// more, and is told.
    pub(super) fn unregistered_elsewhere(&mut self, name: &str, out: &mut impl Outbox) {
        if self.accounts.remove(name).is_none() {
            return;
        }
        if let Some(owner) = self.client_named(name)
            && let Some(Some(m)) = self.members.get_mut(owner)
            && m.logged_in
        {
            m.logged_in = false;
            let msg = format!("{name} is no longer registered");
            self.notice(owner, "unregistered", &msg, out);
        }
    }

    /// The cluster answered a client's work: an account made, or a name taken for a login.
    pub(super) fn cluster_answered(
        &mut self,
        to: ClientId,
        serial: u64,
        claim: Claim,
        out: &mut impl Outbox,
    ) {
        match self.accounts.pending.get(&to) {
            Some(p) if p.serial == serial => {}
            // For a client gone meanwhile, or told already it timed out.
            _ => return,
        }
        let Some(pending) = self.accounts.pending.remove(&to) else {
            return;
        };
        if self.member(to).is_none() {
            return;
        }
        match (pending.purpose, claim) {
            (Purpose::Create { name, hash }, Claim::Granted) => {
                self.registered(to, &name, &hash, out);
            }
            (Purpose::Create { name, .. }, Claim::Taken) => {
                let msg = format!("{name} is registered: /login {name} PASSWORD");
                self.error(to, "name_registered", &msg, out);
            }
            (Purpose::Take(name), Claim::Granted) => self.logged_in_as(to, &name, out),
            (Purpose::Create { .. } | Purpose::Take(_), _) => {
                let msg =
                    "accounts cannot be used while the cluster is unreachable; try again later";
                self.error(to, "cluster_unreachable", &msg, out);
            }
            _ => {}
        }
        self.answered_for(to, out);
    }

    /// The messages the cluster kept for `name`, whose owner `to` logged in to it.
    pub(super) fn waited(
        &mut self,
        to: ClientId,
        name: &str,
        waiting: &[Waiting],
        out: &mut impl Outbox,
    ) {
        let owner = self
            .member(to)
            .is_some_and(|m| m.logged_in && m.name.eq_ignore_ascii_case(name));
        if owner {
            self.hand_waiting(to, name, waiting, out);
        } else if !waiting.is_empty() {
            // Logged out or gone meanwhile: they were taken from the cluster, so they are not
            // lost: kept for the next login, wherever it is.
            for w in waiting {
                out.keep_waiting(&w.from, name, w.at, &w.text);
            }
        }
    }
}
