//! The state file's save under strace: the temporary file is written and fsynced before the
//! rename, and the folder is fsynced after it (behaviour.md, "State file"); writers without those fsyncs fail the
//! same check, so the check is real.
//!
//! Needs Debian's `strace` and ptrace. A missing prerequisite prints `SKIPPED:`, or fails the test
//! when `SCOUTLB_TEST_REQUIRE=1` (set by the test command).

use std::fs::File;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use scoutlb_testkit::syscall_order::{check_durable_replace, strace_unavailable, trace};

fn strace_ready() -> bool {
    match strace_unavailable() {
        Some(why) => {
            scoutlb_testkit::skip(&why);
            false
        }
        None => true,
    }
}

#[test]
fn a_connect_saves_the_state_with_fsyncs_around_the_rename() {
    if !strace_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    // A listener the tcp probe reaches (the kernel accepts from the backlog).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let log = trace(
        Path::new(env!("CARGO_BIN_EXE_save-state")),
        &[state.to_str().unwrap(), &address],
        &[],
        &dir.path().join("strace.log"),
    )
    .unwrap();
    let replaced = check_durable_replace(&log, &state).unwrap_or_else(|why| panic!("{why}\n--- strace log:\n{log}"));
    println!("state file save: {replaced:?}");
    assert!(replaced.temp.contains(".state.json.tmp-"), "{replaced:?}");
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(saved["default_server"]["port"], listener.local_addr().unwrap().port());
}

/// This test binary's `control_writer` under strace, in `mode`; the log.
fn control(mode: &str, dir: &Path) -> String {
    let target = dir.join("state.json");
    trace(
        &std::env::current_exe().unwrap(),
        &["--exact", "control_writer", "--ignored", "--test-threads=1"],
        &[
            ("SCOUTLB_CONTROL_MODE", mode),
            ("SCOUTLB_CONTROL_TARGET", target.to_str().unwrap()),
        ],
        &dir.join("control.log"),
    )
    .unwrap()
}

#[test]
fn a_writer_without_fsync_fails_the_check() {
    if !strace_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = control("no-fsync", dir.path());
    let why = check_durable_replace(&log, &dir.path().join("state.json")).unwrap_err();
    assert!(why.contains("is not fsynced after its last write"), "{why}");
}

#[test]
fn a_writer_without_the_folder_fsync_fails_the_check() {
    if !strace_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = control("fsync-file-only", dir.path());
    let why = check_durable_replace(&log, &dir.path().join("state.json")).unwrap_err();
    assert!(
        why.contains("folder") && why.contains("not opened and fsynced"),
        "{why}"
    );
}

/// The control: a temporary file written (and in `fsync-file-only` mode fsynced), renamed over
/// the target, and no fsync of the folder. Run by the two tests above, not on its own.
#[test]
#[ignore = "a control writer that the tests above run under strace"]
fn control_writer() {
    let (Ok(mode), Ok(target)) = (
        std::env::var("SCOUTLB_CONTROL_MODE"),
        std::env::var("SCOUTLB_CONTROL_TARGET"),
    ) else {
        panic!("run by the control tests, with SCOUTLB_CONTROL_MODE and SCOUTLB_CONTROL_TARGET");
    };
    let target = PathBuf::from(target);
    let tmp = target.with_file_name(".state.json.tmp-control");
    let mut f = File::create(&tmp).unwrap();
    f.write_all(b"{\"format\": 1}\n").unwrap();
    if mode == "fsync-file-only" {
        f.sync_all().unwrap();
    }
    drop(f);
    std::fs::rename(&tmp, &target).unwrap();
}
