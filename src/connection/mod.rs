//! What one client connection does, written once and driven by both concurrency models.
//!
//! A connection is a stack: a TCP socket, its [`Transport`] layers (TLS; the web layer, HTTP
//! then WebSocket, or IRC's, above plain or TLS),
//! then the [`Intake`] that turns plaintext into hub events (framing, flood control, the last
//! line), and on the way out an [`Output`] queue (owed a stretch of a shared batch, or a copy
//! of its own, or dropped as too slow). None of these touch a socket's readiness or a thread:
//! poll mode owns its loop, tokens, interest and turn order (`poll_server`), threads mode its
//! threads, locks and write-through path (`thread_server`).

pub mod batch;
pub mod intake;
pub mod irc;
pub mod lines;
pub mod output;
pub mod transport;
pub mod web;

use std::time::Duration;

pub use batch::Batch;
pub use intake::{Intake, Rules, Verdict};
pub use output::{BufPool, Output, Outputs, Queued};
pub use transport::{Served, Transport};

/// How long a connection the hub closed may take to take its last lines and close its side,
/// before it is cut.
pub const LINGER: Duration = Duration::from_secs(2);
