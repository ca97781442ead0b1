//! The framer, differentially: the same bytes fed whole, or in chunks to a consumer that
//! refuses every other line, yield the same frames; memory stays within the limit.
#![no_main]

use std::ops::ControlFlow;

use chatd::framing::{Frame, LineFramer};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, PartialEq)]
enum Out {
    Line(Vec<u8>),
    TooLong,
}

fn record(out: &mut Vec<Out>, f: Frame<'_>) {
    out.push(match f {
        Frame::Line(l) => Out::Line(l.to_vec()),
        Frame::TooLong => Out::TooLong,
    });
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let max = data[0] as usize % 64 + 1;
    let chunk = data[1] as usize % 32 + 1;
    let stream = &data[2..];

    let mut whole = Vec::new();
    let mut f = LineFramer::default();
    f.feed(stream, max, |fr| {
        record(&mut whole, fr);
        ControlFlow::Continue(())
    });

    let mut chunked = Vec::new();
    let mut f = LineFramer::default();
    let take = |fr: Frame<'_>, taken: &mut bool, out: &mut Vec<Out>| match fr {
        Frame::Line(_) if *taken => ControlFlow::Break(()),
        fr => {
            if matches!(fr, Frame::Line(_)) {
                *taken = true;
            }
            record(out, fr);
            ControlFlow::Continue(())
        }
    };
    for c in stream.chunks(chunk) {
        loop {
            let mut taken = false;
            if f.resume(max, |fr| take(fr, &mut taken, &mut chunked)).is_continue() {
                break;
            }
        }
        let mut taken = false;
        f.feed(c, max, |fr| take(fr, &mut taken, &mut chunked));
        assert!(f.has_pending_lines() || f.buffered() <= max + 1, "unbounded buffer");
    }
    loop {
        let mut taken = false;
        if f.resume(max, |fr| take(fr, &mut taken, &mut chunked)).is_continue() {
            break;
        }
    }
    assert_eq!(whole, chunked);
});
