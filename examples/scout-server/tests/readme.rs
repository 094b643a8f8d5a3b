//! The README's "Three servers on one SQLite file" runs as written (on free ports and a temp
//! folder) and prints the list in the order the README shows.

use std::process::Command;

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_scout-server");

/// The README's shell block under `heading`.
fn shell_block(readme: &str, heading: &str) -> String {
    let section = readme.split(heading).nth(1).expect("the section");
    let start = section.find("```sh\n").expect("a sh block") + "```sh\n".len();
    section[start..].split("\n```").next().unwrap().to_owned()
}

#[test]
fn the_three_server_example_prints_the_list_in_the_order_shown() {
    let readme = include_str!("../README.md");
    let block = shell_block(readme, "## Three servers on one SQLite file");
    let dir = tempfile::tempdir().unwrap();
    let ports: Vec<u16> = (0..3).map(|_| scoutlb_testkit::free_port()).collect();
    let mut script = String::from("set -e\n");
    for line in block.lines() {
        if line.starts_with("cargo build") || line.starts_with("kill ") {
            continue;
        }
        // The folder first: the binary's own path may lie under /tmp (a clone there).
        let mut line = line
            .replace("/tmp/", &format!("{}/", dir.path().display()))
            .replace("target/debug/scout-server", BIN);
        for (i, port) in ports.iter().enumerate() {
            line = line.replace(&(22123 + i).to_string(), &port.to_string());
        }
        script.push_str(&line);
        script.push('\n');
    }
    script.push_str("kill $(jobs -p)\nwait\n");
    let out = Command::new("timeout")
        .args(["60", "bash", "-c", &script])
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let list: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}\n{script}", String::from_utf8_lossy(&out.stderr)));
    let shown: Vec<String> = ports.iter().map(|p| format!("127.0.0.1-{p}")).collect();
    // The README's comment shows the ids in port order; the run gives the same.
    for (i, id) in ["127.0.0.1-22123", "127.0.0.1-22124", "127.0.0.1-22125"]
        .iter()
        .enumerate()
    {
        assert!(readme.contains(&format!("\"id\":\"{id}\"")), "the README shows {id}");
        assert_eq!(scoutlb_testkit::listed_ids(&list)[i], shown[i], "{list}");
    }
}

/// The `--flags` of `text`, in order of first appearance.
fn flags_in(text: &str) -> Vec<String> {
    let mut flags: Vec<String> = Vec::new();
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
        let named = word
            .strip_prefix("--")
            .is_some_and(|w| w.starts_with(|c: char| c.is_ascii_lowercase()));
        if named && !flags.iter().any(|f| f == word) {
            flags.push(word.to_owned());
        }
    }
    flags
}

#[test]
fn the_flags_table_names_the_flags_of_the_help() {
    let readme = include_str!("../README.md");
    let table = readme.split("## Flags").nth(1).expect("the Flags section");
    let table: String = table
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        // The first cell of each row: the flag itself.
        .filter_map(|l| l.split('|').nth(1))
        .collect::<Vec<_>>()
        .join("\n");
    let help = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let options = help.split("OPTIONS:").nth(1).expect("an OPTIONS section");
    let options = options.split("\n\n").next().unwrap();
    // The flags an option line starts with (`-h, --help`; the text after them may name others).
    let help_flags: Vec<String> = options
        .lines()
        .flat_map(|l| {
            l.split_whitespace()
                .take_while(|w| w.starts_with('-'))
                .flat_map(flags_in)
        })
        .collect();
    let table_flags = flags_in(&table);
    assert!(help_flags.contains(&"--known-devices".to_string()), "{help_flags:?}");
    assert_eq!(table_flags, help_flags, "README table vs --help");
}
