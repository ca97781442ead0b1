//! IRC's message format: any line a client could send parses or is refused, never panics; what
//! parses stays within IRC's limits; and a message written again from what was parsed reads
//! back the same (tags, source, command, parameters).
#![no_main]

use chatd::irc::message::{MAX_PARAMS, parse, write};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = parse(data) else { return };
    assert!(m.params.len() <= MAX_PARAMS && !m.command.is_empty());
    // Written again (every parameter but the last has no space and no leading `:` when it was
    // parsed as a middle one), it reads back the same.
    let tags: Vec<(&str, &str)> = m
        .tags
        .iter()
        .filter(|(k, _)| !k.is_empty() && !k.contains(['=', ';', ' ']))
        .map(|(k, v)| (*k, v.as_ref()))
        .collect();
    let source = m.source.filter(|s| !s.is_empty() && !s.contains(' '));
    let mut out = Vec::new();
    write(&mut out, &tags, source, m.command, &m.params, false);
    let again = parse(out.strip_suffix(b"\r\n").unwrap());
    if let Ok(again) = again {
        assert_eq!(again.command, m.command);
        assert_eq!(again.params, m.params);
        assert_eq!(again.source, source);
        // A key sent twice reads as its first value.
        let mut seen = std::collections::HashSet::new();
        for (k, v) in &tags {
            if seen.insert(*k) {
                assert_eq!(again.tag(k), Some(*v));
            }
        }
    }
});
