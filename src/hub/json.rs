//! The JSON form of what the hub says (`/format json`, and every WebSocket client): one object
//! per line, built by hand because every object is flat and small: a `type`, a `time`, and
//! the fields its type needs (see the table in docs/protocol.md). Pure.

use std::fmt::Write as _;

/// One JSON object being written: `{"type":"chat","time":"…", …}`.
pub struct Obj {
    out: String,
}

impl Obj {
    /// An object of `kind`, said at `us` (microseconds of Unix time).
    pub fn new(kind: &str, us: u64) -> Obj {
        let mut out = String::with_capacity(96);
        out.push_str("{\"type\":");
        string(&mut out, kind);
        out.push_str(",\"time\":\"");
        time(&mut out, us);
        out.push('"');
        Obj { out }
    }

    fn key(&mut self, key: &str) {
        self.out.push(',');
        string(&mut self.out, key);
        self.out.push(':');
    }

    pub fn str(mut self, key: &str, value: &str) -> Obj {
        self.key(key);
        string(&mut self.out, value);
        self
    }

    /// A string, or `null`.
    pub fn opt(mut self, key: &str, value: Option<&str>) -> Obj {
        self.key(key);
        match value {
            Some(v) => string(&mut self.out, v),
            None => self.out.push_str("null"),
        }
        self
    }

    pub fn num(mut self, key: &str, value: u64) -> Obj {
        self.key(key);
        let _ = write!(self.out, "{value}");
        self
    }

    /// A number that may have a fraction (`50`, `2.5`); not finite: `null`.
    pub fn float(mut self, key: &str, value: f64) -> Obj {
        self.key(key);
        if value.is_finite() {
            let _ = write!(self.out, "{value}");
        } else {
            self.out.push_str("null");
        }
        self
    }

    pub fn bool(mut self, key: &str, value: bool) -> Obj {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
        self
    }

    /// An array of strings.
    pub fn strs<'a>(mut self, key: &str, values: impl IntoIterator<Item = &'a str>) -> Obj {
        self.key(key);
        self.out.push('[');
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            string(&mut self.out, v);
        }
        self.out.push(']');
        self
    }

    /// An array of objects already written (each from [`Obj::done`] without its newline).
    pub fn objs<'a>(mut self, key: &str, values: impl IntoIterator<Item = &'a str>) -> Obj {
        self.key(key);
        self.out.push('[');
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.out.push_str(v);
        }
        self.out.push(']');
        self
    }

    /// The object, closed, without a newline.
    pub fn done(mut self) -> String {
        self.out.push('}');
        self.out
    }

    /// The object as one line, `\n` included.
    pub fn line(self) -> String {
        let mut s = self.done();
        s.push('\n');
        s
    }
}

/// `value` as a JSON string: quotes, backslashes and control characters escaped.
pub fn string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `us` (microseconds of Unix time) as RFC 3339 UTC with milliseconds:
/// `2026-11-29T20:00:00.123Z`.
pub fn time(out: &mut String, us: u64) {
    let secs = us / 1_000_000;
    let ms = us / 1000 % 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    );
}

/// The date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(us: u64) -> String {
        let mut s = String::new();
        time(&mut s, us);
        s
    }

    #[test]
    fn times_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(t(0), "1970-01-01T00:00:00.000Z");
        // date -u -d @1795982400.123 (2026-11-29 20:00:00 UTC)
        assert_eq!(t(1_795_982_400_123_456), "2026-11-29T20:00:00.123Z");
        assert_eq!(t(951_782_400_000_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(t(4_107_542_399_999_000), "2100-02-28T23:59:59.999Z");
    }

    #[test]
    fn strings_are_escaped() {
        let mut s = String::new();
        string(&mut s, "a\"b\\c\nd\u{1}é\u{2028}");
        assert_eq!(s, r#""a\"b\\c\nd\u0001é\u2028""#);
    }

    #[test]
    fn objects_are_flat_and_ordered() {
        let o = Obj::new("chat", 0)
            .str("from", "ana")
            .opt("reason", None)
            .num("n", 3)
            .bool("up", true)
            .strs("names", ["a", "b"])
            .objs("lines", ["{}"])
            .line();
        assert_eq!(
            o,
            "{\"type\":\"chat\",\"time\":\"1970-01-01T00:00:00.000Z\",\"from\":\"ana\",\
             \"reason\":null,\"n\":3,\"up\":true,\"names\":[\"a\",\"b\"],\"lines\":[{}]}\n"
        );
    }
}
