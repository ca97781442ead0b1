//! The command parser and the sanitizer: any input, no panic, and nothing that could drive a
//! terminal survives sanitizing.
#![no_main]

use chatd::command::{Command, Input, parse, sanitize, valid_name};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let clean = sanitize(&text);
    assert!(!clean.chars().any(|c| c.is_control() && c != '\t'));
    match parse(&clean) {
        Ok(Input::Command(Command::Nick(name))) => assert!(valid_name(name)),
        Ok(Input::Command(Command::Msg { to, text })) => {
            assert!(!to.is_empty() && !text.is_empty())
        }
        Ok(Input::Say(s)) => assert!(!s.trim().is_empty()),
        _ => {}
    }
});
