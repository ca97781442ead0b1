//! What the protocol reference (docs/protocol.md) says against what the code says: every code the hub gives an error or a
//! notice, and every fixed message, is in the README (its protocol tables and its list of
//! codes). Read from the source text of `src/hub/`, so that a new message that the README does
//! not mention fails here. A message made with `format!` (inline, or in a `let` before the call)
//! must match one of the README's with placeholders where its `{...}` are: `name taken: {new}`
//! matches `! name taken: NAME`.

use std::path::Path;

/// `(kind, code, text)` of every `error(...)` and `notice(...)` call in `src/hub/`: kind is `!`
/// or `*`; the code when it is a literal; the text when it can be read: its pieces between
/// the `{...}` of a format string (one piece for a fixed text).
fn messages() -> Vec<(char, Option<String>, Option<Vec<String>>)> {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src/hub"));
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "tests.rs" || name == "notice.rs" || path.is_dir() {
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
                let text = message_text(args, before);
                found.push((kind, code, text));
            }
        }
    }
    found
}

/// The message of a call whose arguments are `args`, as pieces between its placeholders: a
/// literal (`&"..."`), an inline `format!`/`format_args!`, or a variable set by a `let` before
/// the call (`before`) to either.
fn message_text(args: &str, before: &str) -> Option<Vec<String>> {
    if let Some(i) = args.find("&\"") {
        return Some(vec![literal(&args[i + 1..])?]);
    }
    for mac in ["format_args!(\"", "format!(\""] {
        if let Some(i) = args.find(mac) {
            return Some(pieces(&literal(&args[i + mac.len() - 1..])?));
        }
    }
    // `&msg`: the last `let msg = ...;` before the call.
    let var: String = args
        .split(", ")
        .filter_map(|a| a.trim().strip_prefix('&'))
        .find(|a| !a.is_empty() && a.chars().all(|c| c.is_ascii_lowercase() || c == '_'))?
        .to_string();
    let at = before.rfind(&format!("let {var} = "))?;
    let statement = &before[at..];
    let statement = &statement[..statement.find(";\n").unwrap_or(statement.len())];
    for mac in ["format!(\"", "format_args!(\""] {
        if let Some(i) = statement.find(mac) {
            return Some(pieces(&literal(&statement[i + mac.len() - 1..])?));
        }
    }
    let value = statement.split_once(" = ")?.1.trim_start();
    value
        .starts_with('"')
        .then(|| literal(value))
        .flatten()
        .map(|l| vec![l])
}

/// The string literal `text` starts with (at its `"`), unescaped as far as messages need.
fn literal(text: &str) -> Option<String> {
    let body = text.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                '\n' => {
                    // A line continuation: the next line's leading blanks are skipped.
                    while chars.clone().next().is_some_and(char::is_whitespace) {
                        chars.next();
                    }
                }
                'n' => out.push('\n'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// A format string's text between its `{...}` placeholders (`{{` and `}}` are braces).
fn pieces(format: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.last_mut().unwrap().push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.last_mut().unwrap().push('}');
            }
            '{' => {
                for c in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                }
                out.push(String::new());
            }
            c => out.last_mut().unwrap().push(c),
        }
    }
    out
}

/// Whether `shown` (a README span, like `! name taken: NAME`) is the message `pieces` with
/// something in each placeholder.
fn matches(shown: &str, pieces: &[String]) -> bool {
    let [first, middle @ .., last] = pieces else {
        return pieces.first().is_some_and(|p| p == shown);
    };
    let Some(mut rest) = shown.strip_prefix(first.as_str()) else {
        return false;
    };
    for piece in middle {
        // Something in the placeholder before it, then the piece.
        match rest.get(1..).and_then(|r| r.find(piece.as_str())) {
            Some(i) => rest = &rest[1 + i + piece.len()..],
            None => return false,
        }
    }
    rest.len() > last.len() && rest.ends_with(last.as_str())
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
    let readme = include_str!("../docs/protocol.md");
    let found = messages();
    assert!(
        found.len() > 30,
        "found only {} messages: is this the hub?",
        found.len()
    );
    // Every `...` span of the README.
    let spans: Vec<&str> = readme.split('`').skip(1).step_by(2).collect();
    let mut missing = Vec::new();
    let mut formatted = 0;
    for (kind, code, text) in &found {
        if let Some(code) = code
            && !readme.contains(&format!("`{code}`"))
        {
            missing.push(format!("code `{code}`"));
        }
        let Some(pieces) = text else { continue };
        let mut pieces = pieces.clone();
        pieces[0] = format!("{kind} {}", pieces[0]);
        formatted += usize::from(pieces.len() > 1);
        if !spans.iter().any(|s| matches(s, &pieces)) {
            missing.push(format!("message `{}`", pieces.join("{}")));
        }
    }
    assert!(
        formatted > 15,
        "only {formatted} formatted messages read: is the reading broken?"
    );
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "not in the README:\n{}",
        missing.join("\n")
    );
}

#[test]
fn placeholders_match_what_fills_them() {
    let p = |f: &str| pieces(f);
    assert!(matches("! name taken: NAME", &p("! name taken: {new}")));
    assert!(!matches("! name taken: ", &p("! name taken: {new}")));
    assert!(matches("* NAME is muted", &p("* {name} is {verb}d")));
    assert!(matches(
        "! banned (M more minutes)",
        &p("! banned ({n} more minute{})")
    ));
    assert!(!matches(
        "! banned for M minutes",
        &p("! banned ({n} more minute{})")
    ));
    assert!(matches("* bye", &p("* bye")));
    assert!(!matches("* bye now", &p("* bye")));
    assert_eq!(literal("\"a \\\"b\\\"\" rest"), Some("a \"b\"".into()));
}

/// Every relative link of README.md and docs/ points at a file that exists, and a link to a
/// heading (`#...`) at one that file has.
#[test]
fn every_relative_link_points_at_something_that_exists() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    let mut broken = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let file = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            let ok = file.exists()
                && (anchor.is_empty()
                    || std::fs::read_to_string(&file)
                        .unwrap_or_default()
                        .lines()
                        .filter_map(|l| {
                            l.trim_start_matches('#')
                                .strip_prefix(' ')
                                .filter(|_| l.starts_with('#'))
                        })
                        .any(|heading| slug(heading) == anchor));
            if !ok {
                broken.push(format!("{}: {target}", page.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// The targets of the `[text](target)` links of a Markdown text.
fn link_targets(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        if let Some(end) = rest.find(')') {
            let target = &rest[..end];
            if !target.is_empty() && !target.contains(char::is_whitespace) {
                found.push(target.to_string());
            }
        }
    }
    found
}

/// A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces as `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}
