//! A connection's output queue, written once for both concurrency models: what it is owed and
//! what is copied for it, and when it is too slow to keep.
//!
//! The rule: a line for a connection with nothing pending is not copied. The connection is
//! *owed* a stretch of the [`Batch`] the line is in (it *claims* the batch), and as long as its
//! next line is the next line of that batch (the common case: a room's lines go to everyone
//! but their sender), the stretch just grows. Whoever writes the batch writes that stretch
//! straight from it. Only when the lines stop being one stretch, or the socket does not take
//! them all, are they copied into the connection's own buffer; and once what is copied and
//! being written goes over `--max-backlog`, the connection is dropped as too slow.
//!
//! How the bytes reach the socket is each model's own: poll mode writes them at the end of its
//! turn, threads mode once the room lock is released, with no lock held across the write.

use std::net::SocketAddr;
use std::ops::Range;

use super::batch::{self, Batch};
use crate::hub::Line;

/// Output buffers are lent to connections only while they have output pending.
#[derive(Default)]
pub struct BufPool {
    free: Vec<Vec<u8>>,
}

impl BufPool {
    const KEEP: usize = 64;
    const KEEP_CAPACITY: usize = 64 * 1024;

    pub fn get(&mut self) -> Vec<u8> {
        self.free.pop().unwrap_or_else(|| Vec::with_capacity(256))
    }

    pub fn put(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() != 0
            && buf.capacity() <= Self::KEEP_CAPACITY
            && self.free.len() < Self::KEEP
        {
            buf.clear();
            self.free.push(buf);
        }
    }
}

/// What every connection's queue shares: the limit, and buffers to lend.
#[derive(Default)]
pub struct Outputs {
    /// `--max-backlog`: most bytes queued for one connection.
    pub max_backlog: usize,
    pub pool: BufPool,
}

/// What became of a line queued with [`Output::queue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// The connection now claims the batch: the caller must have its stretch written once
    /// the batch is complete (it had nothing pending before).
    Claimed,
    /// Added to what it was owed or to its own buffer.
    Added,
    /// Over the backlog: drop it as too slow (nothing was added).
    TooSlow,
}

/// A stretch of one batch, by the batch's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Owed {
    round: u32,
    start: u32,
    end: u32,
}

/// One connection's output. Costs no heap while nothing is pending.
#[derive(Debug, Default)]
pub struct Output {
    /// The stretch of a batch it is owed, written before `buf`.
    owed: Option<Owed>,
    /// Its own bytes: whole lines, in order.
    buf: Vec<u8>,
    /// Bytes taken out of `buf` (or owed) being written right now: they count toward the
    /// backlog.
    taken: usize,
}

impl Output {
    /// Queues `line`, put in `batch` if it is not there yet. `may_claim`: no one else is
    /// writing this connection now (threads mode: its writer is free); the connection may then
    /// claim the batch.
    pub fn queue(
        &mut self,
        line: &Line,
        batch: &mut Batch,
        may_claim: bool,
        outputs: &mut Outputs,
        peer: &SocketAddr,
    ) -> Queued {
        match self.owed {
            Some(owed) if owed.round == batch.round() => {
                let mut range = owed.start as usize..owed.end as usize;
                if batch::extend(&mut range, batch.put(line)) {
                    self.owed = Some(Owed {
                        end: range.end as u32,
                        ..owed
                    });
                    return Queued::Added;
                }
                // Not the next stretch of the batch: what is owed is copied, and the line after.
                self.owed = None;
                self.copy(&batch.bytes()[range], outputs);
            }
            None if may_claim && self.buf.is_empty() && self.taken == 0 => {
                let range = batch.put(line);
                self.owed = Some(Owed {
                    round: batch.round(),
                    start: range.start as u32,
                    end: range.end as u32,
                });
                return Queued::Claimed;
            }
            _ => {}
        }
        let queued = self.queued();
        if queued + line.len() > outputs.max_backlog {
            log::info!("{peer} too slow: dropped with {queued} bytes queued");
            return Queued::TooSlow;
        }
        self.copy(line, outputs);
        Queued::Added
    }

    fn copy(&mut self, bytes: &[u8], outputs: &mut Outputs) {
        if self.buf.capacity() == 0 {
            self.buf = outputs.pool.get();
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes copied for it and not written yet.
    pub fn queued(&self) -> usize {
        self.buf.len() + self.taken
    }

    /// Takes what it is owed of `batch`, if its claim is on that batch.
    pub fn take_owed(&mut self, batch: &Batch) -> Option<Range<usize>> {
        match self.owed.take() {
            Some(o) if o.round == batch.round() => Some(o.start as usize..o.end as usize),
            _ => None,
        }
    }

    /// Its own bytes, to write.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Nothing owed, copied or being written.
    pub fn is_idle(&self) -> bool {
        self.owed.is_none() && self.buf.is_empty() && self.taken == 0
    }

    /// The socket took `n` bytes of [`Output::pending`]; an emptied buffer goes back to the pool.
    pub fn wrote(&mut self, n: usize, outputs: &mut Outputs) {
        if n == self.buf.len() {
            outputs.pool.put(std::mem::take(&mut self.buf));
        } else {
            self.buf.drain(..n);
        }
    }

    /// Bytes the socket did not take: they go first, before anything queued meanwhile.
    pub fn unsent(&mut self, rest: &[u8], outputs: &mut Outputs) {
        if self.buf.is_empty() {
            self.copy(rest, outputs);
        } else {
            self.buf.splice(0..0, rest.iter().copied());
        }
    }

    /// Takes all its own bytes, to write with no lock held (see [`Output::writing`]).
    pub fn take_pending(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// `n` bytes it is owed or took are being written with no lock held: they count toward the
    /// backlog until [`Output::done_writing`].
    pub fn writing(&mut self, n: usize) {
        self.taken = n;
    }

    pub fn done_writing(&mut self) {
        self.taken = 0;
    }

    /// Bytes taken to write and not written: they go first again.
    pub fn put_back(&mut self, mut rest: Vec<u8>) {
        rest.extend_from_slice(&self.buf);
        self.buf = rest;
    }

    /// Forgets everything: the connection failed or was dropped.
    pub fn clear(&mut self, outputs: &mut Outputs) {
        self.owed = None;
        self.taken = 0;
        outputs.pool.put(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn line(text: &str) -> Line {
        Arc::from(text.as_bytes())
    }

    fn outputs(max_backlog: usize) -> Outputs {
        Outputs {
            max_backlog,
            pool: BufPool::default(),
        }
    }

    const PEER: ([u8; 4], u16) = ([127, 0, 0, 1], 9);

    #[test]
    fn a_line_for_everyone_is_owed_from_the_batch_not_copied() {
        let (mut batch, mut outs) = (Batch::default(), outputs(100));
        let (mut a, mut b) = (Output::default(), Output::default());
        let (hi, bye) = (line("hi\n"), line("bye\n"));
        let peer = PEER.into();
        assert_eq!(
            a.queue(&hi, &mut batch, true, &mut outs, &peer),
            Queued::Claimed
        );
        assert_eq!(
            b.queue(&hi, &mut batch, true, &mut outs, &peer),
            Queued::Claimed
        );
        assert_eq!(
            a.queue(&bye, &mut batch, true, &mut outs, &peer),
            Queued::Added
        );
        assert_eq!(
            b.queue(&bye, &mut batch, true, &mut outs, &peer),
            Queued::Added
        );
        assert_eq!(batch.bytes(), b"hi\nbye\n");
        assert_eq!((a.pending(), a.queued()), (&b""[..], 0));
        assert_eq!(a.take_owed(&batch), Some(0..7));
        assert_eq!(b.take_owed(&batch), Some(0..7));
        assert!(a.is_idle());
    }

    #[test]
    fn a_gap_in_the_stretch_copies_what_is_owed() {
        let (mut batch, mut outs) = (Batch::default(), outputs(100));
        let mut a = Output::default();
        let peer = PEER.into();
        a.queue(&line("1\n"), &mut batch, true, &mut outs, &peer);
        batch.put(&line("not for a\n"));
        assert_eq!(
            a.queue(&line("2\n"), &mut batch, true, &mut outs, &peer),
            Queued::Added
        );
        assert_eq!(a.pending(), b"1\n2\n");
        assert_eq!(a.take_owed(&batch), None);
    }

    #[test]
    fn a_claim_is_good_for_its_batch_only() {
        let (mut batch, mut outs) = (Batch::default(), outputs(100));
        let mut a = Output::default();
        let peer = PEER.into();
        a.queue(&line("1\n"), &mut batch, true, &mut outs, &peer);
        batch.clear();
        assert_eq!(a.take_owed(&batch), None);
    }

    #[test]
    fn busy_elsewhere_it_gets_a_copy() {
        let (mut batch, mut outs) = (Batch::default(), outputs(100));
        let mut a = Output::default();
        let peer = PEER.into();
        assert_eq!(
            a.queue(&line("1\n"), &mut batch, false, &mut outs, &peer),
            Queued::Added
        );
        assert_eq!(a.pending(), b"1\n");
    }

    #[test]
    fn past_the_backlog_it_is_too_slow_counting_what_is_being_written() {
        let (mut batch, mut outs) = (Batch::default(), outputs(6));
        let mut a = Output::default();
        let peer = PEER.into();
        assert_eq!(
            a.queue(&line("abc\n"), &mut batch, false, &mut outs, &peer),
            Queued::Added
        );
        let taken = a.take_pending();
        a.writing(taken.len());
        assert_eq!(taken, b"abc\n");
        assert_eq!(a.queued(), 4);
        assert_eq!(
            a.queue(&line("de\n"), &mut batch, false, &mut outs, &peer),
            Queued::TooSlow
        );
        a.done_writing();
        assert_eq!(
            a.queue(&line("de\n"), &mut batch, false, &mut outs, &peer),
            Queued::Added
        );
    }

    #[test]
    fn what_the_socket_did_not_take_goes_first() {
        let (mut batch, mut outs) = (Batch::default(), outputs(100));
        let mut a = Output::default();
        let peer = PEER.into();
        a.queue(&line("later\n"), &mut batch, false, &mut outs, &peer);
        a.unsent(b"first ", &mut outs);
        assert_eq!(a.pending(), b"first later\n");
        a.wrote(6, &mut outs);
        assert_eq!(a.pending(), b"later\n");
        a.wrote(6, &mut outs);
        assert!(a.is_idle());
        a.queue(&line("b\n"), &mut batch, false, &mut outs, &peer);
        a.put_back(b"a\n".to_vec());
        assert_eq!(a.pending(), b"a\nb\n");
    }
}
