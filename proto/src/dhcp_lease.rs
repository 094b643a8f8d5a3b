//! First contact from DHCP option 222 (behaviour.md, "First contact from DHCP"): the option's
//! value and the lease files that carry it, read from bytes the driver hands in.
//!
//! Four lease forms are told apart by their content: ISC dhclient's text leases
//! (`option unknown-222 "…";`, `option unknown-222 31:30:…;` or a name defined for code 222),
//! dhcpcd's binary leases (the DHCP message as received), the `KEY=VALUE` leases of
//! systemd-networkd and NetworkManager's internal client (which cannot carry option 222), and the
//! file the scoutlb hook script writes.

use std::fmt;

use crate::server::Server;

/// The DHCP option code that carries the Scout Server addresses and the destination OU.
pub const SCOUT_OPTION: u8 = 222;

/// The name `dhclient.conf` gives option 222 in the documented set-up (`option scout-servers code 222 = text;`).
pub const DHCLIENT_OPTION_NAME: &str = "scout-servers";

/// The first line of the file the scoutlb hook script writes.
pub const HOOK_FILE_HEADER: &str = "# scoutlb DHCP option 222";

/// Most servers taken from one option value; the rest are reported as skipped.
pub const MAX_SERVERS: usize = 64;

/// Which program wrote a lease file, as told from its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaseFormat {
    /// ISC dhclient's text lease (also NetworkManager with its dhclient back end).
    Dhclient,
    /// dhcpcd's binary lease: the DHCP message as received.
    Dhcpcd,
    /// systemd-networkd's or NetworkManager's internal client's `KEY=VALUE` lease.
    Networkd,
    /// The file written by the scoutlb hook script.
    HookFile,
}

impl LeaseFormat {
    /// The format's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            LeaseFormat::Dhclient => "ISC dhclient lease",
            LeaseFormat::Dhcpcd => "dhcpcd lease",
            LeaseFormat::Networkd => "systemd-networkd/NetworkManager lease",
            LeaseFormat::HookFile => "scoutlb hook file",
        }
    }
}

/// Why a lease file or an option value could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaseError {
    /// The format the file was taken for, when it was recognised.
    pub format: Option<LeaseFormat>,
    /// What is wrong, in words.
    pub reason: String,
}

impl fmt::Display for LeaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.format {
            Some(format) => write!(f, "not a readable {}: {}", format.name(), self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

impl std::error::Error for LeaseError {}

fn bad(format: LeaseFormat, reason: impl Into<String>) -> LeaseError {
    LeaseError {
        format: Some(format),
        reason: reason.into(),
    }
}

/// What option 222 says: the Scout Servers to try first and the destination OU.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FirstContact {
    /// The servers, in the order given, without repeats.
    pub servers: Vec<Server>,
    /// The destination OU (`ou=…`), when given.
    pub ou: Option<String>,
    /// Entries that are not server addresses, each with why; the others are used.
    pub skipped: Vec<(String, String)>,
}

/// What one lease file says about option 222.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseOption {
    /// The lease carries option 222 with this value.
    Found(FirstContact),
    /// The lease does not carry option 222 (or there is no lease in the file yet).
    Absent,
    /// The format cannot carry option 222 (systemd-networkd keeps only the codes 224–254).
    Unsupported(LeaseFormat),
}

/// Tell a lease file's format from its content.
pub fn detect_format(bytes: &[u8]) -> Result<LeaseFormat, LeaseError> {
    if bytes.len() >= 240 && bytes[236..240] == DHCP_MAGIC {
        return Ok(LeaseFormat::Dhcpcd);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| LeaseError {
        format: None,
        reason: "neither a DHCP message (dhcpcd) nor UTF-8 text (dhclient, systemd-networkd, hook file)".into(),
    })?;
    if text.starts_with(HOOK_FILE_HEADER) {
        return Ok(LeaseFormat::HookFile);
    }
    let meaningful = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    match meaningful {
        // dhclient truncates its lease file before it writes the first lease.
        None => Ok(LeaseFormat::Dhclient),
        Some(l) if l.starts_with("lease") || l.starts_with("default-duid") || l.starts_with("lease6") => {
            Ok(LeaseFormat::Dhclient)
        }
        Some(l) if l.split_once('=').is_some_and(|(k, _)| is_env_key(k)) => Ok(LeaseFormat::Networkd),
        Some(_) => Err(LeaseError {
            format: None,
            reason: "not a lease file scoutlb knows (ISC dhclient, dhcpcd, systemd-networkd/NetworkManager, or the \
                     scoutlb hook file)"
                .into(),
        }),
    }
}

fn is_env_key(k: &str) -> bool {
    !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Read option 222 from a lease file's bytes, whatever wrote it; `default_port` completes addresses without one.
pub fn read_lease(bytes: &[u8], default_port: u16) -> Result<LeaseOption, LeaseError> {
    let format = detect_format(bytes)?;
    let raw = match format {
        LeaseFormat::Dhcpcd => dhcp_message_option(bytes, SCOUT_OPTION)?,
        LeaseFormat::Dhclient => dhclient_option(text_of(bytes, format)?, SCOUT_OPTION)?,
        LeaseFormat::HookFile => {
            let text = text_of(bytes, format)?;
            let value = text[HOOK_FILE_HEADER.len()..].trim();
            (!value.is_empty()).then(|| value.as_bytes().to_vec())
        }
        LeaseFormat::Networkd => {
            // Check it is what it looks like, so a damaged file is reported as such.
            networkd_check(text_of(bytes, format)?)?;
            return Ok(LeaseOption::Unsupported(format));
        }
    };
    match raw {
        None => Ok(LeaseOption::Absent),
        Some(raw) => parse_value(&raw, default_port)
            .map(LeaseOption::Found)
            .map_err(|e| bad(format, format!("option 222: {}", e.reason))),
    }
}

fn text_of(bytes: &[u8], format: LeaseFormat) -> Result<&str, LeaseError> {
    std::str::from_utf8(bytes).map_err(|_| bad(format, "not UTF-8 text"))
}

/// Parse option 222's value (behaviour.md, "First contact from DHCP"): servers `host[:port]`
/// separated by `,`, `;` or spaces, and `ou=NAME` up to the next `;`.
pub fn parse_value(raw: &[u8], default_port: u16) -> Result<FirstContact, LeaseError> {
    let value_error = |reason: String| LeaseError { format: None, reason };
    // Some DHCP servers end a text option with NUL bytes.
    let end = raw.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    let text = std::str::from_utf8(&raw[..end]).map_err(|_| value_error("the value is not UTF-8 text".into()))?;
    if let Some(c) = text.chars().find(|c| c.is_control() && !c.is_whitespace()) {
        return Err(value_error(format!("the value holds the control character {:?}", c)));
    }
    let mut text = text.trim();
    if text.len() >= 2 && text.starts_with('"') && text.ends_with('"') {
        text = text[1..text.len() - 1].trim();
    }
    let decoded;
    if let Some(bytes) = hex_colon(text) {
        decoded = String::from_utf8(bytes).map_err(|_| value_error("the hex value is not UTF-8 text".into()))?;
        return parse_value(decoded.as_bytes(), default_port);
    }
    let mut contact = FirstContact::default();
    for part in text.split(';') {
        let part = part.trim();
        // Only `ou=`: `ou:22123` is a server named `ou`.
        if part.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("ou=")) {
            let ou = part[3..].trim().trim_matches('"').trim();
            if !ou.is_empty() && contact.ou.is_none() {
                contact.ou = Some(ou.to_string());
            }
            continue;
        }
        for token in part
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
        {
            if contact.servers.len() >= MAX_SERVERS {
                contact
                    .skipped
                    .push((token.to_string(), format!("more than {MAX_SERVERS} servers")));
                continue;
            }
            match Server::parse(token, default_port) {
                Ok(s) if !contact.servers.contains(&s) => contact.servers.push(s),
                Ok(_) => {}
                Err(e) => contact.skipped.push((token.to_string(), e.reason)),
            }
        }
    }
    if contact.servers.is_empty() && contact.ou.is_none() {
        let reason = match contact.skipped.first() {
            Some((token, why)) => format!("no server address in the value (`{token}`: {why})"),
            None => "the value is empty".to_string(),
        };
        return Err(value_error(reason));
    }
    Ok(contact)
}

/// `31:30:2e:30` (dhclient's and the hook's form of a value that is not plain text), decoded.
fn hex_colon(text: &str) -> Option<Vec<u8>> {
    let groups: Vec<&str> = text.split(':').collect();
    if groups.len() < 3 || !groups.iter().all(|g| (1..=2).contains(&g.len())) {
        return None;
    }
    groups.iter().map(|g| u8::from_str_radix(g, 16).ok()).collect()
}

const DHCP_MAGIC: [u8; 4] = [0x63, 0x82, 0x53, 0x63];

/// The value of option `code` in a DHCP message (dhcpcd's lease), its parts joined (RFC 3396);
/// `None` when the message does not carry it.
pub fn dhcp_message_option(msg: &[u8], code: u8) -> Result<Option<Vec<u8>>, LeaseError> {
    let format = LeaseFormat::Dhcpcd;
    if msg.len() < 240 || msg[236..240] != DHCP_MAGIC {
        return Err(bad(format, "too short for a DHCP message, or no DHCP magic cookie"));
    }
    let mut value: Option<Vec<u8>> = None;
    let mut overload = 0u8;
    scan_options(&msg[240..], code, &mut value, Some(&mut overload), "options")?;
    // Option 52 (overload) moves options into the `file` and `sname` fields.
    if overload & 1 != 0 {
        scan_options(&msg[108..236], code, &mut value, None, "file field")?;
    }
    if overload & 2 != 0 {
        scan_options(&msg[44..108], code, &mut value, None, "sname field")?;
    }
    Ok(value)
}

fn scan_options(
    area: &[u8],
    code: u8,
    value: &mut Option<Vec<u8>>,
    mut overload: Option<&mut u8>,
    place: &str,
) -> Result<(), LeaseError> {
    let mut i = 0;
    while i < area.len() {
        match area[i] {
            0 => i += 1,
            255 => return Ok(()),
            c => {
                let len = *area
                    .get(i + 1)
                    .ok_or_else(|| bad(LeaseFormat::Dhcpcd, format!("option {c} cut off in the {place}")))?
                    as usize;
                let data = area.get(i + 2..i + 2 + len).ok_or_else(|| {
                    bad(
                        LeaseFormat::Dhcpcd,
                        format!("option {c} says {len} bytes but the {place} ends first"),
                    )
                })?;
                if c == code {
                    value.get_or_insert_with(Vec::new).extend_from_slice(data);
                }
                if c == 52
                    && let (Some(o), Some(v)) = (overload.as_deref_mut(), data.first())
                {
                    *o = *v;
                }
                i += 2 + len;
            }
        }
    }
    // dhcpcd stores the message up to its end option; a missing end in the options is a cut file.
    if overload.is_some() {
        return Err(bad(
            LeaseFormat::Dhcpcd,
            "the options end without an end option (a cut file?)",
        ));
    }
    Ok(())
}

/// The value of option `code` in the newest lease of an ISC dhclient lease file (written as
/// `unknown-<code>`, or for 222 as `scout-servers`), as bytes; `None` when that lease lacks it.
pub fn dhclient_option(text: &str, code: u8) -> Result<Option<Vec<u8>>, LeaseError> {
    let format = LeaseFormat::Dhclient;
    let tokens = dhclient_tokens(text)?;
    let unknown = format!("unknown-{code}");
    let mut newest: Option<Option<Vec<u8>>> = None;
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Word(w) if w == "lease" && matches!(tokens.get(i + 1), Some(Token::Open)) => {
                let mut found = None;
                let mut depth = 0usize;
                let mut j = i + 1;
                let mut statement_start = j + 1;
                loop {
                    let t = tokens
                        .get(j)
                        .ok_or_else(|| bad(format, "a `lease {` block has no closing `}`"))?;
                    match t {
                        Token::Open => depth += 1,
                        Token::Close => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        Token::Semi => {
                            let st = &tokens[statement_start..j];
                            if depth == 1
                                && let [Token::Word(kw), Token::Word(name), rest @ ..] = st
                                && kw == "option"
                                && (*name == unknown || (code == SCOUT_OPTION && name == DHCLIENT_OPTION_NAME))
                            {
                                found = Some(dhclient_value(rest)?);
                            }
                            statement_start = j + 1;
                            j += 1;
                            continue;
                        }
                        _ => {}
                    }
                    if matches!(t, Token::Open | Token::Close) {
                        statement_start = j + 1;
                    }
                    j += 1;
                }
                newest = Some(found);
                i = j + 1;
            }
            _ => i += 1,
        }
    }
    Ok(newest.flatten())
}

fn dhclient_value(rest: &[Token]) -> Result<Vec<u8>, LeaseError> {
    match rest {
        [Token::Str(s)] => Ok(s.clone()),
        [Token::Word(w)] => Ok(hex_colon(w).unwrap_or_else(|| w.as_bytes().to_vec())),
        _ => Err(bad(
            LeaseFormat::Dhclient,
            "option 222 is neither a quoted string nor hex octets",
        )),
    }
}

#[derive(Debug)]
enum Token {
    Word(String),
    Str(Vec<u8>),
    Open,
    Close,
    Semi,
}

fn dhclient_tokens(text: &str) -> Result<Vec<Token>, LeaseError> {
    let format = LeaseFormat::Dhclient;
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            c if c.is_ascii_whitespace() => i += 1,
            b'{' => {
                out.push(Token::Open);
                i += 1
            }
            b'}' => {
                out.push(Token::Close);
                i += 1
            }
            b';' => {
                out.push(Token::Semi);
                i += 1
            }
            b'"' => {
                i += 1;
                let mut s = Vec::new();
                loop {
                    let c = *b
                        .get(i)
                        .ok_or_else(|| bad(format, "a quoted string has no closing quote"))?;
                    i += 1;
                    match c {
                        b'"' => break,
                        b'\\' => {
                            let e = *b.get(i).ok_or_else(|| bad(format, "a quoted string ends in `\\`"))?;
                            let octal = b.get(i..i + 3).filter(|d| d.iter().all(|x| (b'0'..=b'7').contains(x)));
                            if let Some(d) = octal {
                                let n = (d[0] - b'0') as u32 * 64 + (d[1] - b'0') as u32 * 8 + (d[2] - b'0') as u32;
                                s.push(u8::try_from(n).map_err(|_| bad(format, "an octal escape above \\377"))?);
                                i += 3;
                            } else {
                                s.push(match e {
                                    b'n' => b'\n',
                                    b't' => b'\t',
                                    b'r' => b'\r',
                                    other => other,
                                });
                                i += 1;
                            }
                        }
                        other => s.push(other),
                    }
                }
                out.push(Token::Str(s));
            }
            _ => {
                let start = i;
                while i < b.len() && !b[i].is_ascii_whitespace() && !b"{};\"#".contains(&b[i]) {
                    i += 1;
                }
                out.push(Token::Word(text[start..i].to_string()));
            }
        }
    }
    Ok(out)
}

fn networkd_check(text: &str) -> Result<(), LeaseError> {
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some((k, _)) if is_env_key(k) => {}
            _ => {
                return Err(bad(LeaseFormat::Networkd, format!("line {} is not KEY=VALUE", n + 1)));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers(c: &FirstContact) -> Vec<String> {
        c.servers.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn value_forms_admins_write() {
        let c = parse_value(b"10.0.0.1:22123, scout2.corp ;ou=Berlin/Floor 2", 22123).unwrap();
        assert_eq!(servers(&c), ["10.0.0.1:22123", "scout2.corp:22123"]);
        assert_eq!(c.ou.as_deref(), Some("Berlin/Floor 2"));
        let c = parse_value(b"\"a.corp b.corp:9000\"\0\0", 22123).unwrap();
        assert_eq!(servers(&c), ["a.corp:22123", "b.corp:9000"]);
        assert_eq!(c.ou, None);
        let c = parse_value(b"[fd00::1]:22125;a.corp;OU=Sales", 22123).unwrap();
        assert_eq!(servers(&c), ["[fd00::1]:22125", "a.corp:22123"]);
        assert_eq!(c.ou.as_deref(), Some("Sales"));
        let c = parse_value(b"31:30:2e:30:2e:30:2e:31", 22123).unwrap();
        assert_eq!(servers(&c), ["10.0.0.1:22123"]);
        // A host named `ou` with a port is a server, not the OU (found by the fuzz target).
        let c = parse_value(b"ou:22123,tl", 22123).unwrap();
        assert_eq!((servers(&c).len(), c.ou), (2, None));
        let c = parse_value(b"a.corp, bad_host!, a.corp", 22123).unwrap();
        assert_eq!(servers(&c), ["a.corp:22123"]);
        assert_eq!(c.skipped.len(), 1);
        assert!(parse_value(b"  ", 22123).unwrap_err().reason.contains("empty"));
        assert!(parse_value(b"a\x01b", 22123).is_err());
        assert!(parse_value(&[0xff, 0xfe], 22123).is_err());
    }

    #[test]
    fn dhclient_lease_newest_wins() {
        let text = "default-duid \"\\000\\001\";\nlease {\n  interface \"eth0\";\n  option unknown-222 \"old.corp\";\n}\n\
                    lease {\n  interface \"eth0\";\n  option scout-servers \"new.corp:1\\073ou=x\";\n  renew 3 2026/12/02 12:08:27;\n}\n";
        assert_eq!(dhclient_option(text, 222).unwrap().unwrap(), b"new.corp:1;ou=x");
        let hex = "lease {\n option unknown-222 61:2e:63;\n}\n";
        assert_eq!(dhclient_option(hex, 222).unwrap().unwrap(), b"a.c");
        assert_eq!(
            dhclient_option("lease {\n option routers 1.2.3.4;\n}\n", 222).unwrap(),
            None
        );
        assert!(dhclient_option("lease {\n option unknown-222 \"a", 222).is_err());
        assert!(dhclient_option("lease {\n option unknown-222 \"a\";\n", 222).is_err());
    }

    #[test]
    fn dhcp_message_options() {
        let mut msg = vec![0u8; 236];
        msg.extend_from_slice(&DHCP_MAGIC);
        msg.extend_from_slice(&[53, 1, 5, 222, 3, b'a', b'.', b'c', 222, 2, b'o', b'm', 255]);
        assert_eq!(dhcp_message_option(&msg, 222).unwrap().unwrap(), b"a.com");
        assert_eq!(dhcp_message_option(&msg, 224).unwrap(), None);
        let cut = &msg[..msg.len() - 3];
        assert!(dhcp_message_option(cut, 222).is_err());
        assert!(dhcp_message_option(&msg[..200], 222).is_err());
    }

    #[test]
    fn formats_are_told_apart() {
        assert_eq!(detect_format(b"").unwrap(), LeaseFormat::Dhclient);
        assert_eq!(
            detect_format(b"# This file\nADDRESS=10.0.0.5\nOPTION_224=0a0b\n").unwrap(),
            LeaseFormat::Networkd
        );
        assert_eq!(
            read_lease(b"ADDRESS=10.0.0.5\n", 1).unwrap(),
            LeaseOption::Unsupported(LeaseFormat::Networkd)
        );
        assert!(read_lease(b"ADDRESS=10.0.0.5\ngarbage\n", 1).is_err());
        assert!(read_lease(b"hello world", 1).is_err());
        let hook = format!("{HOOK_FILE_HEADER}\n10.0.0.1;ou=A\n");
        match read_lease(hook.as_bytes(), 22123).unwrap() {
            LeaseOption::Found(c) => assert_eq!(c.ou.as_deref(), Some("A")),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            read_lease(format!("{HOOK_FILE_HEADER}\n").as_bytes(), 1).unwrap(),
            LeaseOption::Absent
        );
    }
}
