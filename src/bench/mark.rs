//! What the load generator puts in every message it sends: `#cb RUN SENDER SEQ MICROS`, found
//! anywhere in a received line whatever the server put before it.

/// The start of a mark.
pub const MARK: &[u8] = b"#cb ";

/// A number for this run, different from earlier runs' (time and process id), carried in every
/// message it sends.
pub fn run_id() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() ^ d.as_secs() as u32);
    nanos ^ std::process::id().rotate_left(16)
}

/// Finds `#cb RUN SENDER SEQ MICROS` of run `run` in a line: (sender, seq, micros).
pub fn parse_mark(line: &[u8], run: u32) -> Option<(usize, u32, u64)> {
    // A byte search for '#' then a look at what follows: a JSON event has the mark far in.
    let mut at = 0;
    loop {
        at += line[at..].iter().position(|&b| b == b'#')?;
        if line[at..].starts_with(MARK) {
            break;
        }
        at += 1;
    }
    let mut fields = line[at + MARK.len()..].split(|&b| b == b' ');
    let mut num = || -> Option<u64> { std::str::from_utf8(fields.next()?).ok()?.parse().ok() };
    if num()? != u64::from(run) {
        return None;
    }
    Some((num()? as usize, num()? as u32, num()?))
}

#[cfg(test)]
mod tests {
    use super::parse_mark;

    #[test]
    fn finds_the_mark_after_any_prefix() {
        assert_eq!(
            parse_mark(b"<guest1> #cb 7 3 17 123456 xxxx", 7),
            Some((3, 17, 123456))
        );
        assert_eq!(
            parse_mark(b":n!u@h PRIVMSG #c :#cb 7 0 0 9 ", 7),
            Some((0, 0, 9))
        );
        assert_eq!(parse_mark(b"* guest1 joined", 7), None);
        assert_eq!(parse_mark(b"<x> #cb 7 1 nope 3", 7), None);
        // Another run's line (replayed history, say) is not this run's message.
        assert_eq!(parse_mark(b"<guest1> #cb 6 3 17 123456 xxxx", 7), None);
    }
}
