//! The lines handed out while handling a batch of events, each kept once, so that a recipient
//! that can take its lines at once is written straight from here, with no copy of its own.
//!
//! Both concurrency models use it the same way: a recipient with nothing pending is *owed* a
//! stretch of the batch (a range); as long as its next line is the next line of the batch (the
//! common case: every line of the turn goes to everyone but its sender), the stretch just
//! grows. When the batch is written, each owed stretch goes out with one write from the batch;
//! only what a full socket does not take is copied into that recipient's own buffer.

use std::ops::Range;
use std::sync::Arc;

use crate::hub::Line;

/// A batch grown past this is given back once cleared.
const KEEP: usize = 256 * 1024;

#[derive(Default)]
pub struct Batch {
    /// Which batch this is: a stretch owed is good only while the batch that made it lasts
    /// (see [`crate::connection::Output`]). Wraps; a claim lives for microseconds.
    round: u32,
    bytes: Vec<u8>,
    /// The last line put, and where. Held, so that no other line can be given its address
    /// while it is compared with the next one.
    last: Option<(Line, Range<usize>)>,
}

impl Batch {
    /// Where `line` is in the batch, putting it at the end unless it is the last line already
    /// (the same line for another recipient).
    pub fn put(&mut self, line: &Line) -> Range<usize> {
        if let Some((last, at)) = &self.last
            && Arc::ptr_eq(last, line)
        {
            return at.clone();
        }
        let at = self.bytes.len()..self.bytes.len() + line.len();
        self.bytes.extend_from_slice(line);
        self.last = Some((Line::clone(line), at.clone()));
        at
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn round(&self) -> u32 {
        self.round
    }

    /// Starts batch number `round` (threads mode numbers them by holds of the room lock).
    pub fn begin(&mut self, round: u32) {
        debug_assert!(self.bytes.is_empty(), "a batch was not cleared");
        self.round = round;
    }

    /// Empties the batch; owed stretches are void from now on, and the next batch has the
    /// next number.
    pub fn clear(&mut self) {
        self.round = self.round.wrapping_add(1);
        self.last = None;
        if self.bytes.capacity() > KEEP {
            self.bytes = Vec::new();
        } else {
            self.bytes.clear();
        }
    }
}

/// Adds `line` to what a recipient is owed, if it comes right after it in the batch. Returns
/// false if it does not (the recipient must then get its lines copied instead).
pub fn extend(owed: &mut Range<usize>, line: Range<usize>) -> bool {
    if line.start != owed.end {
        return false;
    }
    owed.end = line.end;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> Line {
        Arc::from(text.as_bytes())
    }

    #[test]
    fn a_line_for_many_recipients_is_put_once() {
        let mut batch = Batch::default();
        let hello = line("<a> hello\n");
        assert_eq!(batch.put(&hello), 0..10);
        assert_eq!(batch.put(&hello), 0..10);
        let bye = line("<a> bye\n");
        assert_eq!(batch.put(&bye), 10..18);
        assert_eq!(batch.bytes(), b"<a> hello\n<a> bye\n");
    }

    #[test]
    fn equal_text_in_another_line_is_another_line() {
        let mut batch = Batch::default();
        assert_eq!(batch.put(&line("x\n")), 0..2);
        assert_eq!(batch.put(&line("x\n")), 2..4);
    }

    #[test]
    fn owed_stretches_grow_only_with_the_next_line() {
        let mut batch = Batch::default();
        let (a, b, c) = (line("a\n"), line("b\n"), line("c\n"));
        let mut owed = batch.put(&a);
        assert!(extend(&mut owed, batch.put(&b)));
        assert_eq!(owed, 0..4);
        // A line this recipient does not get comes between: the next one is not contiguous.
        let _ = batch.put(&line("only for someone else\n"));
        assert!(!extend(&mut owed, batch.put(&c)));
        assert_eq!(owed, 0..4);
    }

    #[test]
    fn clear_voids_the_last_line() {
        let mut batch = Batch::default();
        let a = line("a\n");
        batch.put(&a);
        batch.clear();
        assert_eq!(batch.put(&a), 0..2);
        assert_eq!(batch.bytes(), b"a\n");
    }
}
