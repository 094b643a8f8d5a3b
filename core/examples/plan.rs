//! Print the order in which a device with this configuration would try its servers.
//!
//! Usage: `cargo run -p scoutlb --example plan -- <config.json>`. Nothing is probed; the state
//! file, if configured, is read (and a ManagerLoadBalancer name is resolved) as on a restart.

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: plan <config.json>");
        return ExitCode::from(2);
    };
    let run = || -> Result<(), Box<dyn std::error::Error>> {
        let config = scoutlb::Config::from_json(&std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?)?;
        let client = scoutlb::Client::new(config)?;
        match client.default_server() {
            Some(d) => println!("default server: {d}"),
            None => println!("default server: none yet"),
        }
        for (i, server) in client.candidates().iter().enumerate() {
            println!("{:>3}. {server}", i + 1);
        }
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
