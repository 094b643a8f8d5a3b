//! The signed-list vectors (`tests/vectors/signed_list.json`, its `about` says what each field
//! means): the file is what the generator makes, and the real client takes or refuses each list
//! as the vector says, leaving the state file untouched when it refuses.

use std::fs;
use std::path::{Path, PathBuf};

use scoutlb::{Client, Config, ErrorKind};
use serde_json::{Value, json};

fn vector_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/signed_list.json")
}

#[test]
fn the_vector_file_is_what_the_generator_makes() {
    let made = serde_json::to_string_pretty(&scoutlb_testkit::signed::vectors()).unwrap() + "\n";
    if std::env::var("SCOUTLB_WRITE_VECTORS").is_ok_and(|v| v == "1") {
        fs::write(vector_path(), &made).unwrap();
    }
    let kept = fs::read_to_string(vector_path()).unwrap();
    assert!(
        kept == made,
        "tests/vectors/signed_list.json is not what tests/support/src/signed.rs makes; run with SCOUTLB_WRITE_VECTORS=1"
    );
}

/// The state file's servers, list version and adopted keys.
fn summary(path: &Path) -> Value {
    let doc: Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    let servers: Vec<String> = doc["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| format!("{}:{}", v["host"].as_str().unwrap(), v["port"]))
        .collect();
    json!({"servers": servers, "list_version": doc["list_version"],
           "adopted_keys": doc.get("adopted_keys").cloned().unwrap_or(json!([]))})
}

#[test]
fn signed_list_vectors() {
    let doc: Value = serde_json::from_str(&fs::read_to_string(vector_path()).unwrap()).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 15, "{} cases", cases.len());
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scoutlb.json");
        if !case["state"].is_null() {
            fs::write(&path, serde_json::to_vec(&case["state"]).unwrap()).unwrap();
        }
        let config = json!({"probe": "none", "list_keys": case["list_keys"], "state_file": path.to_str().unwrap()});
        let client = Client::new(Config::from_json(&config.to_string()).unwrap()).unwrap();
        for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
            let at = format!("{name}, step {i}");
            let expect = &step["expect"];
            let before = fs::read(&path).ok();
            let result = client.update_server_list_json(step["body"].as_str().unwrap().as_bytes(), None);
            if expect["taken"].as_bool().unwrap() {
                result.unwrap_or_else(|e| panic!("{at}: {e}"));
                let mut want = expect.clone();
                want.as_object_mut().unwrap().remove("taken");
                assert_eq!(summary(&path), want, "{at}");
            } else {
                let e = result.expect_err(&at);
                assert_eq!(e.kind(), ErrorKind::InvalidServerList, "{at}: {e}");
                let why = expect["error"].as_str().unwrap();
                assert!(e.to_string().contains(why), "{at}: `{e}` does not say `{why}`");
                assert_eq!(fs::read(&path).ok(), before, "{at}: the state file changed");
            }
        }
    }
}

/// Loopback servers that lie, through the Rust client: each fails its attempt as `untrusted_list`
/// and leaves the state file byte for byte; an honest server after a liar wins, with `list_problem`.
#[test]
fn lying_servers_on_loopback() {
    use scoutlb_testkit::{Behaviour, TestServer};
    let doc: Value = serde_json::from_str(&fs::read_to_string(vector_path()).unwrap()).unwrap();
    let bodies = &doc["lying_servers"];
    let serve = |name: &str| TestServer::start(Behaviour::Fixed(200, bodies[name].as_str().unwrap().to_string()));
    let liars = [serve("rewritten"), serve("rogue"), serve("replayed")];
    let honest = serve("honest");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scoutlb.json");
    fs::write(&path, bodies["saved"].to_string()).unwrap();
    let client = |servers: Vec<String>| {
        let config = json!({"servers": servers, "list_keys": [doc["keys"]["A"]], "state_file": path.to_str().unwrap(),
                            "attempt_delay_ms": 0, "answer_delay_ms": 0});
        Client::new(Config::from_json(&config.to_string()).unwrap()).unwrap()
    };
    let before = fs::read(&path).unwrap();
    let e = client(liars.iter().map(|s| s.addr.to_string()).collect())
        .connect()
        .unwrap_err();
    let kinds: Vec<&str> = e.attempts().iter().map(|a| a.reason.kind()).collect();
    assert_eq!(kinds, ["untrusted_list"; 3], "{e}");
    assert_eq!(fs::read(&path).unwrap(), before, "the state file changed");
    let c = client(vec![liars[0].addr.to_string(), honest.addr.to_string()])
        .connect()
        .unwrap();
    assert_eq!(c.reached.to_string(), honest.addr.to_string());
    assert!(
        c.list_problem.as_deref().is_some_and(|p| p.contains("does not verify")),
        "{c:?}"
    );
    assert_eq!(summary(&path)["list_version"], 17);
}
