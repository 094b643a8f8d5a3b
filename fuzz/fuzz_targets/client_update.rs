//! `Client::update_server_list_json` on a live agent-driven client (`"probe": "none"`) that keeps
//! a state file, fed one arbitrary body after another.
//!
//! Properties: a body is taken exactly when `ServerList::from_json` takes it; a refused body
//! changes nothing; a taken one becomes the cached list, moves the default to the list's `self`
//! only when the list came from the default server, and the state file holds it afterwards (its
//! entries: the state file, behaviour.md "State file", keeps no `self` or `generation`); the
//! candidates name each server once, the default first.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use scoutlb::{Client, Config, Server, ServerList, StateFile};

struct Setup {
    client: Client,
    state_path: PathBuf,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let dir = scoutlb_fuzz::scratch_dir("client");
        // scoutlb creates no folder (behaviour.md, "State file").
        std::fs::create_dir_all(&dir).unwrap();
        let state_path = dir.join("state.json");
        let config = serde_json::json!({
            "servers": ["10.0.0.1", "10.0.0.2:8443", "[fd00::3]"],
            "probe": "none",
            "state_file": state_path,
        });
        let client = Client::new(Config::from_json(&config.to_string()).unwrap()).unwrap();
        Setup { client, state_path }
    })
}

fuzz_target!(|input: (u8, &[u8])| {
    let Setup { client, state_path } = setup();
    let (choice, body) = input;
    // Now and then the agent reports a success first, so the default moves around.
    if choice & 0x10 != 0 {
        let pool: Vec<Server> = client
            .seeds()
            .iter()
            .chain(client.server_list().iter())
            .cloned()
            .collect();
        let pick = pool[usize::from(choice >> 5) % pool.len()].clone();
        client.report_success(&pick).unwrap();
    }
    let expected = ServerList::from_json(body);
    let from = match choice & 0x03 {
        0 => None,
        1 => Some(client.seeds()[0].clone()),
        2 => client.default_server(),
        _ => expected.as_ref().ok().map(|l| l.servers()[0].clone()),
    };
    let before = client.state();
    let result = client.update_server_list_json(body, from.as_ref());
    let after = client.state();
    match expected {
        Err(_) => {
            assert!(result.is_err(), "a body ServerList refuses was taken");
            assert_eq!(after, before, "a refused body changed the state");
        }
        Ok(list) => {
            result.expect("a body ServerList takes was refused");
            // The entries are the body's (a list with the same entries keeps the cached one).
            assert_eq!(
                after.list.as_ref().map(ServerList::entries),
                Some(list.entries()),
                "the cached list is not the body's"
            );
            let source = from.or(before.default_server.clone());
            assert_eq!(after.servers_from, source);
            let moved = list
                .self_server()
                .filter(|_| source.is_some() && source == before.default_server);
            match moved {
                Some(real) => assert_eq!(after.default_server.as_ref(), Some(real)),
                None => assert_eq!(after.default_server, before.default_server),
            }
            let on_disk = StateFile::open(state_path).unwrap().load().unwrap();
            assert!(on_disk.warning.is_none(), "{:?}", on_disk.warning);
            // The state file (behaviour.md, "State file") keeps the entries of the list, not its `self` or `generation`.
            assert_eq!(on_disk.state.default_server, after.default_server);
            assert_eq!(on_disk.state.servers_from, after.servers_from);
            assert_eq!(
                on_disk.state.list.as_ref().map(ServerList::entries),
                Some(list.entries()),
                "the state file holds another list"
            );
        }
    }
    let candidates = client.candidates();
    for (i, c) in candidates.iter().enumerate() {
        assert!(!candidates[..i].contains(c), "{c} is a candidate twice");
    }
    if let Some(default) = &after.default_server {
        assert_eq!(candidates.first(), Some(default), "the default is not tried first");
    }
});
