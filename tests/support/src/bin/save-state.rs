//! Connect once with the core and so save the state file: the program the syscall-order test
//! runs under strace.
//!
//! ```text
//! save-state STATE_FILE ADDRESS     # "probe": "tcp" against ADDRESS (a loopback listener)
//! ```

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, state_file, address] = args.as_slice() else {
        eprintln!("usage: save-state STATE_FILE ADDRESS");
        std::process::exit(2);
    };
    let config = serde_json::json!({"servers": [address], "probe": "tcp", "state_file": state_file});
    let outcome = scoutlb::Config::from_json(&config.to_string())
        .and_then(scoutlb::Client::new)
        .and_then(|client| client.connect());
    match outcome {
        Ok(connected) => println!("connected to {}", connected.server),
        Err(e) => {
            eprintln!("save-state: {e}");
            std::process::exit(1);
        }
    }
}
