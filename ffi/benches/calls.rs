//! The Rust side of `tests/c/bench.c`: the same cheap calls on the core, in ns per call.
//!
//! Prints `rust <call> <ns>` lines; `<call>_text` rows add the conversion to the C text form, so the
//! difference to the C figures is the cost of the boundary itself. Run by `tests/c/run.sh --bench`.

use std::hint::black_box;
use std::time::Instant;

use scoutlb_core::{Client, Config, Server};

fn per_call(iterations: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..iterations / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    start.elapsed().as_nanos() as f64 / f64::from(iterations)
}

fn lines(servers: &[Server]) -> String {
    use std::fmt::Write;
    let mut text = String::new();
    for s in servers {
        let _ = writeln!(text, "{s}");
    }
    text
}

fn main() {
    // `cargo bench` passes `--bench`; any other run (such as `cargo test --benches`) is a short smoke run.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let timed = args.iter().any(|a| a == "--bench");
    let iterations: u32 = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or(if timed { 200_000 } else { 100 });
    let config = Config::from_json(r#"{"servers": ["10.0.0.1"], "probe": "none"}"#).expect("config");
    let client = Client::new(config).expect("client");
    let entries: Vec<String> = (0..100)
        .map(|n| format!(r#"{{"host": "10.0.{}.{}", "port": 22123}}"#, n / 250, n % 250 + 1))
        .collect();
    let body = format!(r#"{{"servers": [{}]}}"#, entries.join(", "));
    client.update_server_list_json(body.as_bytes(), None).expect("list");
    let default: Server = "10.0.0.51:22123".parse().expect("server");
    client.report_success(&default).expect("report");

    let rows = [
        (
            "candidates_100",
            per_call(iterations, || drop(black_box(client.candidates()))),
        ),
        (
            "candidates_100_text",
            per_call(iterations, || drop(black_box(lines(&client.candidates())))),
        ),
        (
            "report_success_default",
            per_call(iterations, || {
                client.report_success(black_box(&default)).expect("report")
            }),
        ),
        (
            "report_success_default_text",
            per_call(iterations, || {
                let s = Server::parse(black_box("10.0.0.51:22123"), 22123).expect("parse");
                client.report_success(&s).expect("report")
            }),
        ),
        (
            "default_server",
            per_call(iterations, || drop(black_box(client.default_server()))),
        ),
        (
            "default_server_text",
            per_call(iterations, || {
                drop(black_box(client.default_server().map(|s| s.to_string())))
            }),
        ),
    ];
    for (name, ns) in rows {
        println!("rust {name} {ns:.1}");
    }
}
