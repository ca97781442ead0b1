//! What the README says against what the code says: every code the hub gives an error or a
//! notice, and every fixed message, is in the README (its protocol tables and its list of
//! codes). Read from the source text of `src/hub/`, so that a new message that the README does
//! not mention fails here. (Messages made with `format!` are matched by the code they carry.)

use std::path::Path;

/// `(kind, code, fixed text)` of every `error(...)` and `notice(...)` call in `src/hub/`:
/// kind is `!` or `*`; the code when it is a literal; the text when it is one.
fn messages() -> Vec<(char, Option<String>, Option<String>)> {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src/hub"));
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "tests.rs" || name == "notice.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (kind, call) in [('!', "error("), ('*', "notice(")] {
            for (at, _) in text.match_indices(call) {
                let before = &text[..at];
                if before.ends_with("fn ") || before.ends_with("notices.") {
                    continue;
                }
                let args = call_args(&text[at + call.len()..]);
                let mut literals = args.split('"').skip(1).step_by(2);
                let code = literals
                    .next()
                    .filter(|c| c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'))
                    .map(str::to_string);
                let fixed = args
                    .find("&\"")
                    .map(|i| &args[i + 2..])
                    .and_then(|rest| rest.split('"').next())
                    .map(str::to_string);
                found.push((kind, code, fixed));
            }
        }
    }
    found
}

/// The text of a call's arguments: up to its closing parenthesis (strings skipped).
fn call_args(after_open: &str) -> &str {
    let (mut depth, mut in_string, mut escaped) = (1, false, false);
    for (i, c) in after_open.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '(' if !in_string => depth += 1,
            ')' if !in_string => {
                depth -= 1;
                if depth == 0 {
                    return &after_open[..i];
                }
            }
            _ => {}
        }
    }
    after_open
}

#[test]
fn every_code_and_fixed_message_of_the_hub_is_in_the_readme() {
    let readme = include_str!("../README.md");
    let found = messages();
    assert!(
        found.len() > 30,
        "found only {} messages: is this the hub?",
        found.len()
    );
    let mut missing = Vec::new();
    for (kind, code, fixed) in &found {
        if let Some(code) = code
            && !readme.contains(&format!("`{code}`"))
        {
            missing.push(format!("code `{code}`"));
        }
        if let Some(text) = fixed
            && !readme.contains(&format!("`{kind} {text}`"))
        {
            missing.push(format!("message `{kind} {text}`"));
        }
    }
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "not in the README:\n{}",
        missing.join("\n")
    );
}
