//! Scout-style INI entries read onto configuration keys (behaviour.md, "Scout INI files").
//!
//! Pure: the caller reads the file and passes its bytes; this module finds the entries, and
//! [`ScoutIni::settings`] names the configuration key each known entry sets.

use std::fmt;

use serde_json::Value;

/// Where an entry stands: file, line (from 1), section and entry, as written in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Place {
    /// The file, as the caller named it.
    pub file: String,
    /// The line, counted from 1.
    pub line: usize,
    /// The section, as written (empty before the first section header).
    pub section: String,
    /// The entry's name, as written.
    pub entry: String,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} line {}, section [{}], entry {}",
            self.file,
            self.line,
            crate::printable(&self.section),
            crate::printable(&self.entry)
        )
    }
}

/// A known entry with a value that scoutlb cannot use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {message}")]
#[non_exhaustive]
pub struct IniError {
    /// Where the entry is.
    pub place: Place,
    /// What is wrong with its value.
    pub message: String,
}

/// One known entry mapped onto a configuration key.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Setting {
    /// The configuration key it sets: a name of `KEY_TABLE`, or `retry.` and a name of `RETRY_KEYS`.
    pub key: &'static str,
    /// The key's value, as its JSON value.
    pub value: Value,
    /// Where the entry is.
    pub place: Place,
}

/// The entries of one file: the known ones as settings, the rest counted.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct ScoutIni {
    /// The known entries, in file order; a later one for the same key wins.
    pub settings: Vec<Setting>,
    /// Entries scoutlb does not use, and lines that are neither entry, section nor comment.
    pub ignored: Vec<Place>,
}

/// How a known entry's text becomes its key's value.
#[derive(Clone, Copy)]
enum Form {
    /// The text as a JSON string.
    Text,
    /// A comma- or space-separated list of addresses.
    List,
    /// One of Scout's TLS levels, 0, 1 or 3, as the `tls_verify` name it stands for.
    TlsLevel,
    /// A whole number (of retries, of days).
    Count,
    /// Whole seconds, set as milliseconds.
    Seconds,
}

/// The section whose every entry also selects the handshake retry profile (behaviour.md, "All fail").
const HANDSHAKE: &str = "ScoutHandshake";

/// The known entries (behaviour.md, "Scout INI files"): section, entry, key, form.
const ENTRIES: &[(&str, &str, &str, Form)] = &[
    ("Scout", "ManagerLoadBalancer", "manager_load_balancer", Form::Text),
    ("Scout", "ServerList", "servers", Form::List),
    ("Security", "TlsVerifyOption", "tls_verify", Form::TlsLevel),
    (HANDSHAKE, "MaxRetries", "retry.max_retries", Form::Count),
    (HANDSHAKE, "RetryTimer", "retry.timer_ms", Form::Seconds),
    (
        HANDSHAKE,
        "PermanentRetriesAfterDays",
        "retry.permanent_after_days",
        Form::Count,
    ),
];

impl ScoutIni {
    /// Read the text of the INI file named `file` (for messages): comments (`;`, `#`), CRLF, a
    /// UTF-8 BOM, repeated sections and surrounding double quotes are taken; names match in any case.
    pub fn parse(file: &str, bytes: &[u8]) -> Result<Self, IniError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut ini = ScoutIni::default();
        let mut section = String::new();
        for (n, raw) in bytes.split(|b| *b == b'\n').enumerate() {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let text = String::from_utf8_lossy(raw);
            let line = text.trim();
            let place = |section: &str, entry: &str| Place {
                file: file.to_string(),
                line: n + 1,
                section: section.to_string(),
                entry: entry.to_string(),
            };
            if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
                continue;
            }
            if let Some(inner) = line.strip_prefix('[') {
                match inner.strip_suffix(']') {
                    Some(name) => section = name.trim().to_string(),
                    None => ini.ignored.push(place(&section, line)),
                }
                continue;
            }
            let Some((entry, value)) = line.split_once('=') else {
                ini.ignored.push(place(&section, line));
                continue;
            };
            let entry = entry.trim();
            let Some(&(known_section, _, key, form)) = ENTRIES
                .iter()
                .find(|(s, e, _, _)| s.eq_ignore_ascii_case(&section) && e.eq_ignore_ascii_case(entry))
            else {
                ini.ignored.push(place(&section, entry));
                continue;
            };
            let place = place(&section, entry);
            let bad = |message: String| IniError {
                place: place.clone(),
                message,
            };
            if std::str::from_utf8(raw).is_err() {
                return Err(bad("the value is not UTF-8 text".into()));
            }
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            let value = match form {
                Form::Text if value.is_empty() => return Err(bad("the value is empty".into())),
                Form::Text => Value::from(value),
                Form::List => Value::from(
                    value
                        .split([',', ' ', '\t'])
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>(),
                ),
                Form::Count | Form::Seconds => {
                    let n = value.parse::<u64>().map_err(|_| {
                        bad(format!(
                            "expected a whole number{}, got \"{}\"",
                            if matches!(form, Form::Seconds) {
                                " of seconds"
                            } else {
                                ""
                            },
                            crate::printable(value)
                        ))
                    })?;
                    match form {
                        Form::Seconds => Value::from(n.saturating_mul(1000)),
                        _ => Value::from(n),
                    }
                }
                Form::TlsLevel => match crate::TlsVerify::from_scout(value) {
                    Some(level) => Value::from(level.name()),
                    None => {
                        return Err(bad(format!(
                            "expected 0 (no check), 1 (chain) or 3 (chain and name), got \"{}\"",
                            crate::printable(value)
                        )));
                    }
                },
            };
            if known_section == HANDSHAKE {
                ini.settings.push(Setting {
                    key: "retry.profile",
                    value: Value::from("handshake"),
                    place: place.clone(),
                });
            }
            ini.settings.push(Setting { key, value, place });
        }
        Ok(ini)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_entries_map_onto_keys() {
        let text = b"\xEF\xBB\xBF; terminal.ini\r\n[scout]\r\nmanagerloadbalancer = \"lb.corp:22125\"\r\n\
            [Other]\nFoo=1\n[Scout]\nServerList=10.0.0.1, 10.0.0.2 [fd00::1]:5\n[Security]\nTlsVerifyOption=3\n";
        let ini = ScoutIni::parse("t.ini", text).unwrap();
        let got: Vec<_> = ini
            .settings
            .iter()
            .map(|s| (s.key, s.value.clone(), s.place.line))
            .collect();
        assert_eq!(
            got,
            vec![
                ("manager_load_balancer", Value::from("lb.corp:22125"), 3),
                ("servers", serde_json::json!(["10.0.0.1", "10.0.0.2", "[fd00::1]:5"]), 7),
                ("tls_verify", Value::from("full"), 9),
            ]
        );
        assert_eq!(ini.ignored.len(), 1);
        for (level, name) in [("0", "none"), ("1", "chain"), ("\"3\"", "full")] {
            let text = format!("[Security]\nTlsVerifyOption={level}\n");
            let ini = ScoutIni::parse("t.ini", text.as_bytes()).unwrap();
            assert_eq!(ini.settings[0].value, Value::from(name), "{level}");
        }
        assert_eq!(ini.ignored[0].entry, "Foo");
    }

    #[test]
    fn a_bad_value_names_file_line_section_and_entry() {
        let e = ScoutIni::parse("/setup/terminal.ini", b"[Security]\n\nTlsVerifyOption=2\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/setup/terminal.ini line 3, section [Security], entry TlsVerifyOption: expected 0 (no check), 1 (chain) or 3 (chain and name), got \"2\""
        );
    }

    #[test]
    fn handshake_entries_set_the_retry_fields_and_the_profile() {
        let text = b"[ScoutHandshake]\nMaxRetries=8\nretrytimer=5\nPermanentRetriesAfterDays=\"3\"\n";
        let ini = ScoutIni::parse("t.ini", text).unwrap();
        let got: Vec<_> = ini.settings.iter().map(|s| (s.key, s.value.clone())).collect();
        let profile = ("retry.profile", Value::from("handshake"));
        assert_eq!(
            got,
            vec![
                profile.clone(),
                ("retry.max_retries", Value::from(8)),
                profile.clone(),
                ("retry.timer_ms", Value::from(5000)),
                profile,
                ("retry.permanent_after_days", Value::from(3)),
            ]
        );
        let e = ScoutIni::parse("/setup/terminal.ini", b"[ScoutHandshake]\nRetryTimer=5s\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/setup/terminal.ini line 2, section [ScoutHandshake], entry RetryTimer: expected a whole number of seconds, got \"5s\""
        );
        let e = ScoutIni::parse("f", b"[ScoutHandshake]\nMaxRetries=-1\n").unwrap_err();
        assert!(e.message.contains("expected a whole number, got \"-1\""), "{e}");
    }

    #[test]
    fn unknown_and_non_utf8_lines_are_ignored_but_a_known_non_utf8_value_is_refused() {
        let ini = ScoutIni::parse("f", b"[X]\nName=\xff\xfe\njunk line\n[Scout\n").unwrap();
        assert!(ini.settings.is_empty());
        assert_eq!(ini.ignored.len(), 3);
        let e = ScoutIni::parse("f", b"[Scout]\nManagerLoadBalancer=\xff\n").unwrap_err();
        assert!(e.message.contains("not UTF-8"), "{e}");
        let e = ScoutIni::parse("f", b"[Scout]\nManagerLoadBalancer=\n").unwrap_err();
        assert!(e.message.contains("empty"), "{e}");
    }
}
