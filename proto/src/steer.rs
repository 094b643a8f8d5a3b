//! What a server's answer says besides the list (behaviour.md, "Servers that steer devices"):
//! drain with `Retry-After`, and the refusal of a device.

use std::time::Duration;

use serde_json::Value;

use crate::server::Server;
use crate::server_list::ServerList;

/// Request header that names the device to its server, sent when `device_id` is set.
pub const DEVICE_ID_HEADER: &str = "Scout-Device-Id";

/// The drain time taken when `Retry-After` is absent or not a number of seconds.
pub const DRAIN_DEFAULT: Duration = Duration::from_secs(30);

/// The longest drain time taken from `Retry-After`.
pub const DRAIN_MAX: Duration = Duration::from_secs(3600);

/// Longest refusal body read, in bytes; a longer one is not a refusal.
pub const MAX_REFUSAL_BYTES: usize = 64 * 1024;

/// How long a draining server asks to be left alone, from its `Retry-After` header: RFC 9110
/// delta-seconds, at most [`DRAIN_MAX`]; [`DRAIN_DEFAULT`] for anything else (absent, an HTTP date).
pub fn drain_time(retry_after: Option<&str>) -> Duration {
    match retry_after.map(str::trim) {
        Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            // All digits: too many of them is "very long", capped like the rest.
            s.parse::<u64>()
                .map_or(DRAIN_MAX, |n| Duration::from_secs(n).min(DRAIN_MAX))
        }
        _ => DRAIN_DEFAULT,
    }
}

/// The reason of a refusal, when a `403` body is the JSON object `{"refused": "<reason>"}`;
/// `None` for any other body, which keeps the `403` an ordinary HTTP status failure.
pub fn refusal_reason(body: &[u8]) -> Option<String> {
    if body.len() > MAX_REFUSAL_BYTES {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.get("refused")?.as_str().map(str::to_string)
}

/// Where a relocation sends the device, and when it moves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relocation {
    /// The server the device belongs on: an entry of the answer's list.
    pub to: Server,
    /// `offline`: the target is the default at once; otherwise it is tried at the next start-up.
    pub offline: bool,
}

/// The relocation an answer's `relocate` field asks for, checked against the answer's `list`
/// (behaviour.md, "Servers that steer devices"): `to` names an entry by id or address, `mode` is
/// `online` (the default) or `offline`; the error says why it is not followed.
pub fn relocation(value: &Value, list: &ServerList, default_port: u16) -> Result<Relocation, String> {
    let obj = value.as_object().ok_or("`relocate` is not a JSON object")?;
    let to = obj
        .get("to")
        .and_then(Value::as_str)
        .ok_or("`relocate` has no `to` (a string)")?;
    let offline = match obj.get("mode").map(|m| m.as_str()) {
        None | Some(Some("online")) => false,
        Some(Some("offline")) => true,
        Some(_) => return Err("`relocate.mode` is neither \"online\" nor \"offline\"".into()),
    };
    let by_address = Server::parse(to, default_port).ok();
    let target = list
        .entries()
        .iter()
        .find(|e| e.id.as_deref() == Some(to) || Some(&e.server) == by_address.as_ref())
        .ok_or_else(|| {
            format!(
                "the target `{}` is not an entry of the server list: a device moves only to a server its cluster lists",
                crate::printable(to)
            )
        })?;
    Ok(Relocation {
        to: target.server.clone(),
        offline,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_delta_seconds_capped_with_a_default() {
        let s = Duration::from_secs;
        assert_eq!(drain_time(Some("120")), s(120));
        assert_eq!(drain_time(Some(" 0 ")), s(0));
        assert_eq!(drain_time(Some("99999999999999999999999")), DRAIN_MAX);
        assert_eq!(drain_time(Some("7200")), DRAIN_MAX);
        for other in [
            None,
            Some(""),
            Some("-5"),
            Some("1.5"),
            Some("Wed, 21 Oct 2026 07:28:00 GMT"),
        ] {
            assert_eq!(drain_time(other), DRAIN_DEFAULT, "{other:?}");
        }
    }

    #[test]
    fn only_a_refused_string_is_a_refusal() {
        assert_eq!(
            refusal_reason(br#"{"refused": "unknown device"}"#).as_deref(),
            Some("unknown device")
        );
        for body in [
            &b""[..],
            b"forbidden",
            br#"{"refused": 1}"#,
            br#"{"error": "x"}"#,
            br#"["refused"]"#,
        ] {
            assert_eq!(refusal_reason(body), None, "{}", String::from_utf8_lossy(body));
        }
        let big = format!(r#"{{"refused": "{}"}}"#, "x".repeat(MAX_REFUSAL_BYTES));
        assert_eq!(refusal_reason(big.as_bytes()), None);
    }

    #[test]
    fn a_relocation_names_an_entry_of_the_same_list() {
        let list = ServerList::from_json(
            br#"{"servers": [{"host": "10.0.0.1", "port": 22123, "id": "a"}, {"host": "10.0.0.2", "port": 22123, "id": "b"}]}"#,
        )
        .unwrap();
        let b = Server::new("10.0.0.2", 22123).unwrap();
        let go = |v: Value| relocation(&v, &list, 22123);
        assert_eq!(
            go(serde_json::json!({"to": "b"})),
            Ok(Relocation {
                to: b.clone(),
                offline: false
            })
        );
        assert_eq!(
            go(serde_json::json!({"to": "10.0.0.2", "mode": "offline"})),
            Ok(Relocation { to: b, offline: true })
        );
        for (bad, words) in [
            (serde_json::json!({"to": "10.0.0.9"}), "not an entry"),
            (serde_json::json!({"to": "b", "mode": "later"}), "neither"),
            (serde_json::json!({"mode": "online"}), "no `to`"),
            (serde_json::json!("b"), "not a JSON object"),
        ] {
            let e = go(bad.clone()).unwrap_err();
            assert!(e.contains(words), "{bad}: {e}");
        }
    }
}
