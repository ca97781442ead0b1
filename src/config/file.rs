//! `--config FILE`: every option of the command line in a TOML file (`max_per_ip = 16`, or
//! `max-per-ip`), read once at start. The file's settings become arguments put before the
//! command line's, so that a flag overrides the file; each is checked against the options clap
//! knows, and a key that is not one, or a value it refuses, is an error that names the key and
//! its line.

use std::ffi::OsString;
use std::path::Path;

use clap::CommandFactory;

use super::ServerConfig;

/// The command line `args` (program name first), with the settings of the file its `--config`
/// names put before the rest; unchanged without `--config`.
pub fn with_config_file(args: Vec<OsString>) -> Result<Vec<OsString>, String> {
    let Some(path) = config_path(&args) else {
        return Ok(args);
    };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let from_file = settings(&text).map_err(|e| format!("{}:{e}", path.display()))?;
    Ok(merge(from_file, args))
}

/// One setting of the file: its option's name and the arguments it became.
#[derive(Debug)]
pub struct Setting {
    name: String,
    args: Vec<OsString>,
}

/// The file's settings, then the command line (program name first); a setting whose option
/// the command line gives is left out, so that the flag wins, a list included.
fn merge(file: Vec<Setting>, cli: Vec<OsString>) -> Vec<OsString> {
    let given = |name: &str| {
        let flag = format!("--{name}");
        cli.iter().skip(1).any(|a| {
            let a = a.to_string_lossy();
            a == flag || a.starts_with(&format!("{flag}="))
        })
    };
    let mut all: Vec<OsString> = cli.iter().take(1).cloned().collect();
    for s in file.into_iter().filter(|s| !given(&s.name)) {
        all.extend(s.args);
    }
    all.extend(cli.into_iter().skip(1));
    all
}

/// The value of `--config FILE` or `--config=FILE`.
fn config_path(args: &[OsString]) -> Option<std::path::PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(arg) = it.next() {
        let arg = arg.to_string_lossy();
        if arg == "--config" {
            return it.next().map(|p| Path::new(p).to_path_buf());
        }
        if let Some(p) = arg.strip_prefix("--config=") {
            return Some(Path::new(p).to_path_buf());
        }
        if arg == "--" {
            break;
        }
    }
    None
}

/// The file's settings as arguments, each checked; an error starts with its line number.
pub fn settings(text: &str) -> Result<Vec<Setting>, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e.span().map_or(0, |s| {
            text[..s.start.min(text.len())].lines().count().max(1)
        });
        format!("{line}: {}", e.message())
    })?;
    let command = ServerConfig::command();
    let mut args = Vec::new();
    for (key, value) in &table {
        let line = line_of(text, key);
        let name = key.replace('_', "-");
        let Some(arg) = command
            .get_arguments()
            .find(|a| a.get_long() == Some(name.as_str()))
            .filter(|_| name != "config" && name != "help" && name != "version")
        else {
            return Err(format!(
                "{line}: unknown setting `{key}` (see chatd --help)"
            ));
        };
        let flag = format!("--{name}");
        let takes_value = arg.get_action().takes_values();
        let mut these: Vec<OsString> = Vec::new();
        let mut push_value = |v: &toml::Value| -> Result<(), String> {
            let text = match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => return Err(format!("{line}: `{key}`: not a string, number or boolean")),
            };
            these.push(flag.clone().into());
            these.push(text.into());
            Ok(())
        };
        match value {
            toml::Value::Boolean(on) if !takes_value => {
                if *on {
                    these.push(flag.clone().into());
                }
            }
            _ if !takes_value => {
                return Err(format!("{line}: `{key}`: true or false"));
            }
            toml::Value::Array(items) => {
                for item in items {
                    push_value(item)?;
                }
            }
            other => push_value(other)?,
        }
        // The value alone, as clap reads it: a refusal names the key and its line.
        let mut alone: Vec<OsString> = vec!["chatd".into()];
        alone.extend(these.iter().cloned());
        if let Err(e) = ServerConfig::command().try_get_matches_from(alone) {
            use clap::error::ErrorKind::*;
            if matches!(
                e.kind(),
                InvalidValue | ValueValidation | WrongNumberOfValues
            ) {
                let why = e.to_string();
                let why = why
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches("error: ");
                return Err(format!("{line}: `{key}`: {why}"));
            }
        }
        args.push(Setting { name, args: these });
    }
    Ok(args)
}

/// The line (from 1) where `key` is set, or 0 if it cannot be found.
fn line_of(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix(key)
                .or_else(|| l.strip_prefix(&format!("\"{key}\"")))
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map_or(0, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(file: &str, cli: &[&str]) -> Result<ServerConfig, String> {
        let mut args: Vec<OsString> = vec!["chatd".into()];
        args.extend(cli.iter().map(OsString::from));
        ServerConfig::try_parse_from(merge(settings(file)?, args)).map_err(|e| e.to_string())
    }

    #[test]
    fn settings_become_options_and_flags_win() {
        let file = "port = 4000\nmax_per_ip = 3\nmode = \"threads\"\nweb_port = 0\nweb-origin = [\"https://a\", \"https://b\"]\nexempt = [\"none\"]\nno_plain = false\n";
        let c = parse(file, &[]).unwrap();
        assert_eq!((c.port, c.max_per_ip), (4000, 3));
        assert_eq!(c.exempt, [crate::cidr::Exempt::None]);
        assert_eq!(c.mode, super::super::Mode::Threads);
        assert_eq!(c.web_origin, ["https://a", "https://b"]);
        let c = parse(file, &["--port", "5000", "--mode", "poll"]).unwrap();
        assert_eq!(c.port, 5000, "the flag overrides the file");
        assert_eq!(c.mode, super::super::Mode::Poll);
        let c = parse(file, &["--web-origin", "https://c"]).unwrap();
        assert_eq!(c.web_origin, ["https://c"], "a list too");
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key_and_line() {
        let e = settings("port = 4000\n\nmax_peer_ip = 3\n").unwrap_err();
        assert_eq!(e, "3: unknown setting `max_peer_ip` (see chatd --help)");
        let e = settings("# limits\nmax_per_ip = \"many\"\n").unwrap_err();
        assert!(e.starts_with("2: `max_per_ip`: "), "{e}");
        assert!(e.contains("many"), "{e}");
        let e = settings("no_plain = 3\n").unwrap_err();
        assert_eq!(e, "1: `no_plain`: true or false");
        let e = settings("\nexempt = [\"10.0.0.0/33\"]\n").unwrap_err();
        assert!(e.starts_with("2: `exempt`: "), "{e}");
        assert!(e.contains("the prefix length is 0 to 32"), "{e}");
        let e = settings("port = [1, [2]]\n").unwrap_err();
        assert!(e.starts_with("1: `port`: "), "{e}");
        let e = settings("port = \n").unwrap_err();
        assert!(e.starts_with("1: "), "{e}");
        let e = settings("config = \"x\"\n").unwrap_err();
        assert!(e.contains("unknown setting `config`"), "{e}");
    }

    #[test]
    fn the_example_file_is_read_whole() {
        let example = include_str!("../../chatd.toml");
        let file = settings(example).unwrap();
        assert!(file.len() > 10);
        let all = merge(file, vec!["chatd".into()]);
        ServerConfig::try_parse_from(all).unwrap();
    }

    #[test]
    fn the_config_flag_is_found() {
        let args: Vec<OsString> = ["chatd", "--port", "1", "--config=/x.toml"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(config_path(&args), Some("/x.toml".into()));
        let none: Vec<OsString> = ["chatd"].iter().map(OsString::from).collect();
        assert_eq!(with_config_file(none.clone()).unwrap(), none);
    }
}
