//! scoutlb-proto does no I/O (behaviour.md, "Surfaces"): no sockets, threads, files, processes,
//! environment, clock or hidden randomness in its source, and no dependency that brings them.
//! `proto/clippy.toml` holds the same rule for the type checker; this test holds it for `cargo test`.

use std::fs;
use std::path::Path;

/// Paths whose use in scoutlb-proto's source means I/O (or a clock, or hidden state).
const FORBIDDEN: &[&str] = &[
    "std::net::Tcp",
    "std::net::Udp",
    "TcpStream",
    "UdpSocket",
    "ToSocketAddrs",
    "std::fs",
    "std::thread",
    "std::process",
    "std::env",
    "std::io::stdin",
    "std::io::stdout",
    "std::io::stderr",
    "std::sync::Mutex",
    "std::sync::mpsc",
    "Instant",
    "SystemTime::now",
    "UNIX_EPOCH.elapsed",
    "fastrand::u64",
    "Rng::new",
    "SystemRandom",
    "println!",
    "eprintln!",
    "print!",
    "dbg!",
    "log::",
    "tokio",
    "unsafe",
];

/// The only crates scoutlb-proto may depend on: each is pure computation.
const ALLOWED_DEPENDENCIES: &[&str] = &[
    "serde_json",
    "thiserror",
    "humantime",
    "xxhash-rust",
    "fastrand",
    "ring",
    "data-encoding",
];

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in fs::read_dir(dir).expect("read proto/src") {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = fs::read_to_string(&path).expect("read a source file");
            out.push((path.display().to_string(), text));
        }
    }
}

/// The code of a source file without its comments, so that docs may name what the code must not use.
fn code_of(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_source_uses_no_io() {
    let mut files = Vec::new();
    sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    assert!(files.len() >= 10, "found only {} source files", files.len());
    let mut found = Vec::new();
    for (path, text) in &files {
        let code = code_of(text);
        for word in FORBIDDEN {
            if code.contains(word) {
                found.push(format!("{path}: uses `{word}`"));
            }
        }
    }
    assert!(found.is_empty(), "scoutlb-proto must do no I/O:\n{}", found.join("\n"));
}

#[test]
fn the_check_finds_io_when_it_is_there() {
    let code = code_of("use std::net::TcpStream; // a socket\nlet t = Instant::now();");
    assert!(FORBIDDEN.iter().any(|w| code.contains(w)));
    assert!(!FORBIDDEN.iter().any(|w| code_of("// std::fs in a comment").contains(w)));
}

#[test]
fn it_depends_only_on_pure_crates() {
    let manifest = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .expect("a [dependencies] table")
        .split("\n[")
        .next()
        .unwrap();
    for line in deps
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let name = line.split([' ', '=']).next().unwrap();
        assert!(
            ALLOWED_DEPENDENCIES.contains(&name),
            "scoutlb-proto depends on `{name}`, which is not on the list of pure crates"
        );
    }
}
