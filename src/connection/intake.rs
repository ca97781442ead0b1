//! A connection's input, written once for every transport and both concurrency models: the
//! plaintext bytes a client sent go in, hub events come out, at the pace flood control allows.
//! Pure: no socket, no clock of its own (the driver says what time it is).
//!
//! The rules it holds:
//! - bytes are framed into lines ([`LineFramer`]); a line over `max_line` is one
//!   [`Event::LineTooLong`];
//! - each line costs a token ([`Bucket`]); out of tokens, the rest waits here and the driver
//!   reads nothing more from that client until [`Verdict::Wait`] has passed;
//! - throttled without a pause for `flood_after`: the client is dropped as flooding
//!   ([`Event::Disconnected`] with [`Leave::Flooding`], sent from here);
//! - at the end of input, lines held back and an unfinished last line still count
//!   ([`Intake::finish`]).

use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use crate::framing::{Frame, LineFramer};
use crate::hub::{ClientId, Event, Leave};
use crate::rate::{Admit, Bucket, RateLimit};

/// The input rules' settings, the same for every connection of a server.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub max_line: usize,
    pub limit: RateLimit,
}

impl Rules {
    /// Whether `lines` lines sent at once all pass flood control.
    pub fn passes_at_once(&self, lines: usize) -> bool {
        self.limit.is_off() || lines as f64 <= self.limit.burst
    }
}

/// How a call to [`Intake::feed`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every line was handed over: read on.
    Open,
    /// The hub stopped taking lines (it closed the connection): read no more.
    Closed,
    /// Out of tokens: the rest waits here; read nothing from this client for this long, then
    /// [`Intake::feed`] with `None`.
    Wait(Duration),
    /// Dropped for flooding; the hub has been told.
    Flooding,
}

/// One connection's input state: an unfinished line (no heap while there is none) and its
/// tokens.
#[derive(Debug, Default)]
pub struct Intake {
    framer: LineFramer,
    bucket: Bucket,
}

impl Intake {
    /// Hands the lines in `data` (or, with `None`, the lines held back by an earlier
    /// [`Verdict::Wait`]) to `hub` as events of client `from`, one token each. `hub` returns
    /// `Break` once the connection is closed.
    pub fn feed(
        &mut self,
        data: Option<&[u8]>,
        from: (ClientId, SocketAddr),
        rules: &Rules,
        now: Instant,
        mut hub: impl FnMut(Event<'_>) -> ControlFlow<()>,
    ) -> Verdict {
        let (id, peer) = from;
        let mut verdict = Verdict::Open;
        let bucket = &mut self.bucket;
        let mut on_frame = |frame: Frame<'_>| {
            match bucket.admit(rules.limit, now) {
                Admit::Go => {}
                Admit::Wait(wait) => {
                    verdict = Verdict::Wait(wait);
                    return ControlFlow::Break(());
                }
                Admit::Flooding => {
                    verdict = Verdict::Flooding;
                    return ControlFlow::Break(());
                }
            }
            let event = match frame {
                Frame::Line(line) => Event::Line(id, line),
                Frame::TooLong => Event::LineTooLong(id),
            };
            let flow = hub(event);
            if flow.is_break() {
                verdict = Verdict::Closed;
            }
            flow
        };
        match data {
            Some(data) => self.framer.feed(data, rules.max_line, &mut on_frame),
            None => {
                let _ = self.framer.resume(rules.max_line, &mut on_frame);
            }
        }
        if verdict == Verdict::Flooding {
            log::info!("{peer}: flooding, dropped");
            self.framer = LineFramer::default();
            let _ = hub(Event::Disconnected(id, Leave::Flooding));
        }
        verdict
    }

    /// Lines are held back (see [`Verdict::Wait`]): they go before anything read next.
    pub fn has_held_lines(&self) -> bool {
        self.framer.has_pending_lines()
    }

    /// The driver found nothing more to read: whatever its pace, the client paused, so it is
    /// not flooding.
    pub fn paused(&mut self) {
        self.bucket.drained();
    }

    /// Out of tokens, with input still coming.
    pub fn is_throttled(&self) -> bool {
        self.bucket.is_throttled()
    }

    /// The client closed its side: the lines held back and an unfinished last line still
    /// count (flood control aside: they are the last ones). A last line too long is dropped
    /// without a word: no one is left to hear it.
    pub fn finish(
        &mut self,
        id: ClientId,
        rules: &Rules,
        mut hub: impl FnMut(Event<'_>) -> ControlFlow<()>,
    ) {
        let mut rest = |frame: Frame<'_>| {
            if let Frame::Line(line) = frame {
                let _ = hub(Event::Line(id, line));
            }
            ControlFlow::Continue(())
        };
        let _ = self.framer.resume(rules.max_line, &mut rest);
        self.framer.finish(rules.max_line, &mut rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: ([u8; 4], u16) = ([127, 0, 0, 1], 9);

    fn rules(rate: f64, burst: f64) -> Rules {
        Rules {
            max_line: 8,
            limit: RateLimit {
                rate,
                burst,
                flood_after: Duration::from_secs(10),
            },
        }
    }

    /// What the hub was handed, as text.
    fn record(events: &mut Vec<String>) -> impl FnMut(Event<'_>) -> ControlFlow<()> + '_ {
        |e| {
            events.push(match e {
                Event::Line(id, l) => format!("{id}:{}", String::from_utf8_lossy(l)),
                Event::LineTooLong(id) => format!("{id}:too long"),
                Event::Disconnected(id, why) => format!("{id}:gone {why:?}"),
                other => format!("{other:?}"),
            });
            ControlFlow::Continue(())
        }
    }

    #[test]
    fn lines_become_events_of_their_client() {
        let (mut intake, mut got) = (Intake::default(), Vec::new());
        let r = rules(0.0, 0.0);
        let v = intake.feed(
            Some(b"a\nbc\r\nd"),
            (7, PEER.into()),
            &r,
            Instant::now(),
            record(&mut got),
        );
        assert_eq!(v, Verdict::Open);
        assert_eq!(got, ["7:a", "7:bc"]);
        let v = intake.feed(
            Some(b"0123456789\n"),
            (7, PEER.into()),
            &r,
            Instant::now(),
            record(&mut got),
        );
        assert_eq!(v, Verdict::Open);
        assert_eq!(got[2..], ["7:too long"]);
    }

    #[test]
    fn a_closed_connection_takes_no_more_lines() {
        let mut intake = Intake::default();
        let mut n = 0;
        let v = intake.feed(
            Some(b"a\nb\nc\n"),
            (1, PEER.into()),
            &rules(0.0, 0.0),
            Instant::now(),
            |_| {
                n += 1;
                ControlFlow::Break(())
            },
        );
        assert_eq!((v, n), (Verdict::Closed, 1));
    }

    #[test]
    fn out_of_tokens_the_rest_waits_and_comes_next() {
        let (mut intake, mut got) = (Intake::default(), Vec::new());
        let r = rules(10.0, 2.0);
        let t0 = Instant::now();
        let v = intake.feed(
            Some(b"1\n2\n3\n4\n"),
            (0, PEER.into()),
            &r,
            t0,
            record(&mut got),
        );
        let Verdict::Wait(wait) = v else {
            panic!("{v:?}")
        };
        assert_eq!(got, ["0:1", "0:2"]);
        assert!(intake.has_held_lines());
        let v = intake.feed(None, (0, PEER.into()), &r, t0 + wait, record(&mut got));
        assert!(matches!(v, Verdict::Wait(_)), "{v:?}");
        assert_eq!(got, ["0:1", "0:2", "0:3"]);
        let v = intake.feed(None, (0, PEER.into()), &r, t0 + wait * 10, record(&mut got));
        assert_eq!(v, Verdict::Open);
        assert_eq!(got, ["0:1", "0:2", "0:3", "0:4"]);
    }

    #[test]
    fn throttled_without_a_pause_is_flooding_and_the_hub_is_told() {
        let (mut intake, mut got) = (Intake::default(), Vec::new());
        let r = rules(10.0, 2.0);
        let t0 = Instant::now();
        let mut now = t0;
        // A thousand lines at once: 100 s of tokens, always more input waiting.
        let flood = b"x\n".repeat(1000);
        let mut verdict = intake.feed(Some(&flood), (3, PEER.into()), &r, now, record(&mut got));
        while let Verdict::Wait(w) = verdict {
            now += w;
            assert!(now - t0 < Duration::from_secs(20), "never called flooding");
            verdict = intake.feed(None, (3, PEER.into()), &r, now, record(&mut got));
        }
        assert_eq!(verdict, Verdict::Flooding);
        assert_eq!(got.last().map(String::as_str), Some("3:gone Flooding"));
        assert!(!intake.has_held_lines(), "a flooder's input is dropped");
    }

    #[test]
    fn at_the_end_held_lines_and_the_last_line_count_but_not_an_overlong_one() {
        let (mut intake, mut got) = (Intake::default(), Vec::new());
        let r = rules(10.0, 1.0);
        let v = intake.feed(
            Some(b"a\nb\nlast"),
            (2, PEER.into()),
            &r,
            Instant::now(),
            record(&mut got),
        );
        assert!(matches!(v, Verdict::Wait(_)));
        intake.finish(2, &r, record(&mut got));
        assert_eq!(got, ["2:a", "2:b", "2:last"]);
        let (mut intake, mut got) = (Intake::default(), Vec::new());
        let _ = intake.feed(
            Some(b"toolongtoo"),
            (2, PEER.into()),
            &r,
            Instant::now(),
            record(&mut got),
        );
        intake.finish(2, &r, record(&mut got));
        assert_eq!(got, ["2:too long"]);
    }

    #[test]
    fn a_visit_within_the_burst_passes_at_once() {
        assert!(rules(10.0, 5.0).passes_at_once(5));
        assert!(!rules(10.0, 5.0).passes_at_once(6));
        assert!(rules(0.0, 0.0).passes_at_once(1_000_000));
    }
}
