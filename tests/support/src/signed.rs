//! Signed server lists for the tests (behaviour.md, "Signed lists"): three fixed keys (the
//! cluster's `A`, its next key `B`, and a rogue's), signed bodies, and the generator of
//! `tests/vectors/signed_list.json`.

use std::time::{Duration, SystemTime};

use data_encoding::BASE64;
use scoutlb::{PublicKey, Server, ServerEntry, ServerList, Signable, SigningKey};
use serde_json::{Value, json};

/// The cluster's key.
pub fn key_a() -> SigningKey {
    SigningKey::from_seed(&[0xA1; 32])
}

/// The cluster's next key, for rotations.
pub fn key_b() -> SigningKey {
    SigningKey::from_seed(&[0xB2; 32])
}

/// A key nobody trusts: the rogue server's.
pub fn key_rogue() -> SigningKey {
    SigningKey::from_seed(&[0x66; 32])
}

/// Far in the future: lists that do not expire during any test.
pub fn far_future() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(4_102_444_800) // 2100-01-01
}

/// Long past: expired lists.
pub fn long_past() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(946_684_800) // 2000-01-01
}

/// The list of `servers` (`host:port`) with ids `s0`, `s1`, ..., and `self_index` as `self`.
pub fn list_of(servers: &[&str], self_index: Option<usize>) -> ServerList {
    let entries = servers
        .iter()
        .enumerate()
        .map(|(i, s)| ServerEntry::new(s.parse::<Server>().expect("a host:port address"), Some(format!("s{i}"))))
        .collect();
    ServerList::new(entries, self_index.map(|i| format!("s{i}")), None).expect("a valid list")
}

/// The whole answer of `GET /scout/v1/servers` for `list` at `version`, signed by `signers`.
pub fn signed_body(
    list: &ServerList,
    version: u64,
    expires: SystemTime,
    next_keys: &[PublicKey],
    signers: &[&SigningKey],
) -> String {
    Signable {
        list,
        version,
        expires,
        next_keys,
    }
    .answer(signers)
    .to_string()
}

/// The same answer with its signed payload replaced by `forged` (the signatures kept): what a
/// man in the middle who rewrites the list sends.
pub fn forged_body(signed: &str, forged: &ServerList) -> String {
    let mut answer: Value = serde_json::from_str(signed).expect("a signed answer");
    let payload = Signable {
        list: forged,
        version: 99,
        expires: far_future(),
        next_keys: &[],
    }
    .payload();
    replace_payload(&mut answer, &payload);
    answer.to_string()
}

/// The signed payload bytes of an answer.
pub fn decode_payload(answer: &Value) -> Vec<u8> {
    let text = answer["signed"]["payload"].as_str().expect("a signed answer");
    BASE64.decode(text.as_bytes()).expect("base64")
}

/// Replace the signed payload of an answer by `payload`, keeping its signatures.
pub fn replace_payload(answer: &mut Value, payload: &[u8]) {
    answer["signed"]["payload"] = BASE64.encode(payload).into();
}

/// The vectors of `tests/vectors/signed_list.json`, as the generator makes them.
pub fn vectors() -> Value {
    let (a, b, rogue) = (key_a(), key_b(), key_rogue());
    let (pa, pb, pr) = (a.public_key(), b.public_key(), rogue.public_key());
    let servers = ["10.0.0.11:22123", "10.0.0.12:22123", "10.0.0.13:22123"];
    let list = list_of(&servers, Some(0));
    let attacker = list_of(&["192.0.2.66:22123"], Some(0));
    let loopback = list_of(&["127.0.0.1:9"], None);
    let texts = |l: &ServerList| json!(l.servers().iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let body = |version, signers: &[&SigningKey]| signed_body(&list, version, far_future(), &[], signers);
    let taken = |version: u64, adopted: &[&PublicKey]| {
        json!({"taken": true, "servers": texts(&list), "list_version": version,
               "adopted_keys": adopted.iter().map(|k| k.to_base64()).collect::<Vec<_>>()})
    };
    let refused = |why: &str| json!({"taken": false, "error": why});
    let step = |body: String, expect: Value| json!({"body": body, "expect": expect});
    let case = |name: &str, keys: &[&PublicKey], state: Value, steps: Vec<Value>| {
        json!({"name": name, "list_keys": keys.iter().map(|k| k.to_base64()).collect::<Vec<_>>(),
               "state": state, "steps": steps})
    };
    let old = json!({"host": "10.0.0.99", "port": 22123});
    let saved = |version: u64| {
        json!({"format": 1, "default_server": old, "servers": [old], "servers_from": old,
               "updated_at": "2026-12-01T00:00:00.000Z", "list_version": version})
    };
    let mut plain_rewritten: Value = serde_json::from_str(&body(17, &[&a])).unwrap();
    plain_rewritten["servers"] = json!([{"host": "192.0.2.66", "port": 22123}]);
    let mut truncated = body(17, &[&a]);
    truncated.truncate(truncated.len() / 2);
    let mut bad_sig: Value = serde_json::from_str(&body(17, &[&a])).unwrap();
    bad_sig["signed"]["signatures"][0]["sig"] = "AAAA".into();
    let unsigned_payload = |payload: Value| {
        let bytes = serde_json::to_vec(&payload).unwrap();
        let mut answer = list.to_json();
        answer["signed"] = scoutlb::signed_list::envelope(&bytes, &[&a]);
        answer.to_string()
    };
    let entries = list.to_json()["servers"].clone();
    json!({
        "about": "Signed server lists (behaviour.md, 'Signed lists'), made by tests/support/src/signed.rs (core/tests/signed_vectors.rs checks this file is what it makes; SCOUTLB_WRITE_VECTORS=1 writes it). `keys` are the public keys of the fixed test keys A (the cluster's), B (its next key) and rogue. Each case configures `list_keys` (base64), `probe` 'none' and a state file in a fresh folder, which holds the JSON of `state` first when it is not null, then hands each step's `body` in as a server list received from the default server (`update_server_list` with the JSON text). `expect` says whether the list was `taken`: then the state file's `servers` (as host:port texts, in order), `list_version` and `adopted_keys` (base64, in order) are these; when it was refused, the call fails with a server-list error whose message contains `error`, and the state file is byte for byte as it was. Expiries are 2000-01-01 (expired) or 2100-01-01: runners against a real client use its clock; the pure runner uses `now`.",
        "now": "2026-12-02T00:00:00Z",
        "lying_servers": {
            "about": "Bodies for the tests with loopback servers: `honest` is a list signed by A at version 17 naming only 127.0.0.1:9 (no `self`, so the server that answered stays the default), `rewritten` is it with the payload replaced by a man in the middle, `rogue` is a list signed by the rogue key, `replayed` is the honest list at version 3, older than the saved version 5 of `saved`, the state file the tests start from.",
            "saved": {"format": 1, "default_server": null, "servers": null, "servers_from": null,
                      "updated_at": "2026-12-01T00:00:00.000Z", "list_version": 5},
            "honest": signed_body(&loopback, 17, far_future(), &[], &[&a]),
            "rewritten": forged_body(&signed_body(&loopback, 17, far_future(), &[], &[&a]), &attacker),
            "rogue": signed_body(&attacker, 99, far_future(), &[], &[&rogue]),
            "replayed": signed_body(&loopback, 3, far_future(), &[], &[&a]),
        },
        "keys": {"A": pa.to_base64(), "B": pb.to_base64(), "rogue": pr.to_base64()},
        "cases": [
            case("a list signed by the cluster's key is taken", &[&pa], Value::Null,
                 vec![step(body(17, &[&a]), taken(17, &[]))]),
            case("without list_keys a signed answer is read as a plain list", &[], Value::Null,
                 vec![step(body(17, &[&rogue]), json!({"taken": true, "servers": texts(&list), "list_version": null, "adopted_keys": []}))]),
            case("forged: the payload was rewritten after signing", &[&pa], saved(5),
                 vec![step(forged_body(&body(17, &[&a]), &attacker), refused("does not verify"))]),
            case("the plain fields are not read once list_keys is set", &[&pa], Value::Null,
                 vec![step(plain_rewritten.to_string(), taken(17, &[]))]),
            case("re-signed by an unknown key", &[&pa], saved(5),
                 vec![step(signed_body(&attacker, 99, far_future(), &[], &[&rogue]), refused("unknown key"))]),
            case("a replayed old version is refused", &[&pa], saved(20),
                 vec![step(body(17, &[&a]), refused("older than the saved list's version 20"))]),
            case("the same version as the saved list is taken", &[&pa], saved(17),
                 vec![step(body(17, &[&a]), taken(17, &[]))]),
            case("an expired list is refused", &[&pa], saved(5),
                 vec![step(signed_body(&list, 17, long_past(), &[], &[&a]), refused("expired"))]),
            case("a truncated answer is refused", &[&pa], saved(5),
                 vec![step(truncated, refused("not valid JSON"))]),
            case("an unsigned answer is refused once list_keys is set", &[&pa], saved(5),
                 vec![step(list.to_json().to_string(), refused("not signed"))]),
            case("a signature that is not 64 bytes is refused", &[&pa], saved(5),
                 vec![step(bad_sig.to_string(), refused("64 bytes"))]),
            case("a payload without version is refused", &[&pa], saved(5),
                 vec![step(unsigned_payload(json!({"servers": entries, "expires": "2100-01-01T00:00:00Z"})), refused("no `version`"))]),
            case("a payload without expires is refused", &[&pa], saved(5),
                 vec![step(unsigned_payload(json!({"servers": entries, "version": 17})), refused("no `expires`"))]),
            case("a rogue signature beside the cluster's is ignored", &[&pa], Value::Null,
                 vec![step(body(17, &[&rogue, &a]), taken(17, &[]))]),
            case("a second configured key needs no adoption", &[&pa, &pb], Value::Null,
                 vec![step(body(17, &[&b]), taken(17, &[]))]),
            case("key rotation: B is adopted from a list signed by A, then A's lists drop it", &[&pa], Value::Null, vec![
                step(body(18, &[&b]), refused("unknown key")),
                step(signed_body(&list, 18, far_future(), &[pb], &[&a]), taken(18, &[&pb])),
                step(body(19, &[&b]), taken(19, &[&pb])),
                step(body(20, &[&a, &b]), taken(20, &[&pb])),
                step(body(21, &[&a]), taken(21, &[])),
                step(body(22, &[&b]), refused("unknown key")),
            ]),
            case("a list naming next keys cannot make a rogue key trusted without the cluster's signature", &[&pa], saved(5),
                 vec![step(signed_body(&attacker, 99, far_future(), &[pr], &[&rogue]), refused("unknown key"))]),
        ],
    })
}
