//! Line framing: turns a TCP byte stream into lines, whatever the segmentation.
//!
//! Pure and I/O-free. A [`LineFramer`] keeps only the unfinished tail of the stream (at most
//! `max_line + 1` bytes), so memory stays bounded whatever a peer sends. Lines that fit entirely in
//! the bytes just read are handed out as slices of those bytes without being copied.
//!
//! A line ends in `\n`; a `\r` right before it is dropped. A line longer than `max_line` bytes
//! yields [`Frame::TooLong`] once, as soon as it is detected, and the rest of it is discarded up
//! to its `\n`.

use std::ops::ControlFlow;

/// One unit the framer hands out.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete line, without its `\r\n` or `\n`.
    Line(&'a [u8]),
    /// A line went past the limit; no part of it is handed out.
    TooLong,
}

/// Splits a byte stream into [`Frame`]s. Costs no heap memory while no line is unfinished.
#[derive(Debug, Default)]
pub struct LineFramer {
    /// Bytes received but not yet handed out: an unfinished line, or (after the consumer asked to
    /// stop) complete lines still to hand out by [`LineFramer::resume`].
    buf: Vec<u8>,
    /// Inside an over-long line: drop bytes up to the next `\n`.
    discarding: bool,
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

impl LineFramer {
    /// True when complete lines are waiting (the consumer stopped early): call [`resume`] before
    /// feeding more.
    ///
    /// [`resume`]: LineFramer::resume
    pub fn has_pending_lines(&self) -> bool {
        !self.discarding && memchr(b'\n', &self.buf).is_some()
    }

    /// Bytes held for an unfinished line or pending lines.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Hands `data` out as frames. `emit` may return `Break` for a line it cannot take yet:
    /// that line and everything after it are kept, and [`resume`](LineFramer::resume) hands
    /// them out again. (`Break` on a [`Frame::TooLong`] changes nothing: it is reported once.)
    pub fn feed(
        &mut self,
        data: &[u8],
        max_line: usize,
        mut emit: impl FnMut(Frame<'_>) -> ControlFlow<()>,
    ) {
        debug_assert!(!self.has_pending_lines(), "resume() before feed()");
        let mut rest = data;
        // Finish the unfinished line (or the over-long one being discarded) first.
        if self.discarding || !self.buf.is_empty() {
            let Some(i) = memchr(b'\n', rest) else {
                if !self.discarding {
                    self.buf.extend_from_slice(rest);
                    if self.buf.len() > max_line + 1 {
                        self.start_discarding();
                        let _ = emit(Frame::TooLong);
                    }
                }
                return;
            };
            let (head, tail) = (&rest[..i], &rest[i + 1..]);
            rest = tail;
            if self.discarding {
                self.discarding = false;
            } else {
                self.buf.extend_from_slice(head);
                if emit_line(trim_cr(&self.buf), max_line, &mut emit).is_break() {
                    // Keep the line, its newline and all that follows.
                    self.buf.push(b'\n');
                    self.buf.extend_from_slice(rest);
                    return;
                }
                self.clear_buf();
            }
        }
        // Fast path: whole lines straight out of `data`.
        while let Some(i) = memchr(b'\n', rest) {
            if emit_line(trim_cr(&rest[..i]), max_line, &mut emit).is_break() {
                self.buf.extend_from_slice(rest);
                return;
            }
            rest = &rest[i + 1..];
        }
        if rest.len() > max_line + 1 {
            self.start_discarding();
            let _ = emit(Frame::TooLong);
        } else {
            self.buf.extend_from_slice(rest);
        }
    }

    /// Continues handing out lines kept after `emit` stopped. Returns `Break` if it stopped again.
    pub fn resume(
        &mut self,
        max_line: usize,
        emit: impl FnMut(Frame<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        if !self.has_pending_lines() {
            return ControlFlow::Continue(());
        }
        let pending = std::mem::take(&mut self.buf);
        self.feed(&pending, max_line, emit);
        if self.has_pending_lines() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    /// The peer closed its side: an unfinished last line still counts as a line.
    pub fn finish(&mut self, max_line: usize, mut emit: impl FnMut(Frame<'_>) -> ControlFlow<()>) {
        if !self.discarding && !self.buf.is_empty() {
            let _ = emit_line(trim_cr(&self.buf), max_line, &mut emit);
        }
        self.discarding = false;
        self.buf = Vec::new();
    }

    fn start_discarding(&mut self) {
        self.discarding = true;
        self.buf = Vec::new();
    }

    /// Empties the buffer, and gives back its memory if it grew large.
    fn clear_buf(&mut self) {
        if self.buf.capacity() > 1024 {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
    }
}

/// Hands out one complete line; only a `Line` can be refused.
fn emit_line(
    line: &[u8],
    max_line: usize,
    emit: &mut impl FnMut(Frame<'_>) -> ControlFlow<()>,
) -> ControlFlow<()> {
    if line.len() > max_line {
        let _ = emit(Frame::TooLong);
        ControlFlow::Continue(())
    } else {
        emit(Frame::Line(line))
    }
}

/// Position of the first `needle` in `haystack`.
pub fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, PartialEq, Eq, Clone)]
    enum Out {
        Line(Vec<u8>),
        TooLong,
    }

    fn run(chunks: &[&[u8]], max: usize) -> Vec<Out> {
        let mut f = LineFramer::default();
        let mut out = Vec::new();
        for c in chunks {
            f.feed(c, max, |fr| {
                out.push(match fr {
                    Frame::Line(l) => Out::Line(l.to_vec()),
                    Frame::TooLong => Out::TooLong,
                });
                ControlFlow::Continue(())
            });
        }
        out
    }

    fn line(s: &str) -> Out {
        Out::Line(s.as_bytes().to_vec())
    }

    #[test]
    fn splits_lines_and_drops_cr() {
        assert_eq!(
            run(&[b"a\r\nbc\n\nd"], 10),
            vec![line("a"), line("bc"), line("")]
        );
    }

    #[test]
    fn joins_fragments() {
        assert_eq!(
            run(&[b"he", b"l", b"lo\r", b"\nx\n"], 10),
            vec![line("hello"), line("x")]
        );
    }

    #[test]
    fn cr_alone_is_kept_inside_a_line() {
        assert_eq!(run(&[b"a\rb\n"], 10), vec![line("a\rb")]);
    }

    #[test]
    fn overlong_line_in_one_chunk() {
        assert_eq!(
            run(&[b"0123456789X\nok\n"], 10),
            vec![Out::TooLong, line("ok")]
        );
    }

    #[test]
    fn overlong_line_across_chunks_is_reported_once_and_discarded() {
        let out = run(&[b"01234", b"56789XYZ", b"more", b"still\nok\n"], 10);
        assert_eq!(out, vec![Out::TooLong, line("ok")]);
    }

    #[test]
    fn exact_limit_with_crlf_is_accepted() {
        assert_eq!(
            run(&[b"0123456789", b"\r", b"\n"], 10),
            vec![line("0123456789")]
        );
    }

    #[test]
    fn memory_stays_bounded_without_newlines() {
        let mut f = LineFramer::default();
        let chunk = vec![b'x'; 1000];
        for _ in 0..1000 {
            f.feed(&chunk, 4096, |_| ControlFlow::Continue(()));
            assert!(f.buffered() <= 4097);
        }
    }

    #[test]
    fn finish_yields_unterminated_last_line() {
        let mut f = LineFramer::default();
        f.feed(b"a\nlast", 10, |_| ControlFlow::Continue(()));
        let mut got = Vec::new();
        f.finish(10, |fr| {
            if let Frame::Line(l) = fr {
                got.push(l.to_vec());
            }
            ControlFlow::Continue(())
        });
        assert_eq!(got, vec![b"last".to_vec()]);
    }

    /// A consumer that takes one line per turn and refuses the next, like a client out of
    /// tokens: refused lines must come again, once, in order.
    fn one_per_turn(got: &mut Vec<Out>) -> impl FnMut(Frame<'_>) -> ControlFlow<()> + '_ {
        let mut taken = false;
        move |fr| match fr {
            Frame::Line(_) if taken => ControlFlow::Break(()),
            Frame::Line(l) => {
                taken = true;
                got.push(Out::Line(l.to_vec()));
                ControlFlow::Continue(())
            }
            Frame::TooLong => {
                got.push(Out::TooLong);
                ControlFlow::Continue(())
            }
        }
    }

    #[test]
    fn refused_lines_come_again() {
        let mut f = LineFramer::default();
        let mut got = Vec::new();
        f.feed(b"a\nb\nc\nd", 10, one_per_turn(&mut got));
        assert!(f.has_pending_lines());
        while f.resume(10, one_per_turn(&mut got)).is_break() {}
        f.feed(b"\n", 10, one_per_turn(&mut got));
        assert_eq!(got, vec![line("a"), line("b"), line("c"), line("d")]);
    }

    #[test]
    fn a_refused_line_that_was_split_across_reads_comes_again_whole() {
        let mut f = LineFramer::default();
        let mut got = Vec::new();
        f.feed(b"first\nsec", 10, one_per_turn(&mut got));
        f.feed(b"ond\r\nthird\n", 10, |fr| match fr {
            Frame::Line(_) => ControlFlow::Break(()),
            Frame::TooLong => ControlFlow::Continue(()),
        });
        while f.resume(10, one_per_turn(&mut got)).is_break() {}
        assert_eq!(got, vec![line("first"), line("second"), line("third")]);
    }

    /// The reference: split the whole stream at once.
    fn reference(stream: &[u8], max: usize) -> Vec<Out> {
        let mut out = Vec::new();
        let mut parts: Vec<&[u8]> = stream.split(|&b| b == b'\n').collect();
        let tail = parts.pop().unwrap_or_default();
        for p in parts {
            let p = p.strip_suffix(b"\r").unwrap_or(p);
            out.push(if p.len() > max {
                Out::TooLong
            } else {
                Out::Line(p.to_vec())
            });
        }
        // An unterminated tail is not a line yet, but is reported as soon as it is too long.
        if tail.len() > max + 1 {
            out.push(Out::TooLong);
        }
        out
    }

    proptest! {
        #[test]
        fn any_split_yields_the_same_lines(
            stream in proptest::collection::vec(
                prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'a'), any::<u8>()], 0..400),
            cuts in proptest::collection::vec(0usize..400, 0..20),
            max in 1usize..40,
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(stream.len())).collect();
            cuts.sort();
            let mut chunks = Vec::new();
            let mut at = 0;
            for c in cuts { chunks.push(&stream[at..c]); at = c; }
            chunks.push(&stream[at..]);
            prop_assert_eq!(run(&chunks, max), reference(&stream, max));
        }

        #[test]
        fn refusing_lines_yields_the_same_lines(
            stream in proptest::collection::vec(
                prop_oneof![Just(b'\n'), Just(b'a'), any::<u8>()], 0..300),
            chunk in 1usize..50,
        ) {
            let max = 20;
            let mut f = LineFramer::default();
            let mut got = Vec::new();
            for c in stream.chunks(chunk) {
                while f.resume(max, one_per_turn(&mut got)).is_break() {}
                f.feed(c, max, one_per_turn(&mut got));
            }
            while f.resume(max, one_per_turn(&mut got)).is_break() {}
            prop_assert_eq!(got, reference(&stream, max));
        }
    }
}
