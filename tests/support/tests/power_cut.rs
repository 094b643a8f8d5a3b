//! The state file through the power-cut file system ([`PowerCutFs`]): power cuts at random points
//! of a loop of saves leave the old or the new file every time, while a writer without fsync loses
//! the file; injected write, rename and fsync errors fail the save and keep the old file; the
//! `powercut-fs` binary does the same on commands, and every mount is gone after use.
//!
//! Needs FUSE (`/dev/fuse`, and `fusermount3` when not root). A missing prerequisite prints
//! `SKIPPED:`, or fails the test when `SCOUTLB_TEST_REQUIRE=1` (set by the test command).

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use scoutlb::{Server, ServerList, State, StateFile};
use scoutlb_testkit::PowerCutFs;
use scoutlb_testkit::power_cut::Op;

/// Power cuts per writer.
const CUTS: u64 = 1000;

/// One mount at a time: the tests of this file share nothing but the FUSE device.
static SERIAL: Mutex<()> = Mutex::new(());

fn mounted() -> Option<PowerCutFs> {
    if let Some(why) = PowerCutFs::unavailable() {
        scoutlb_testkit::skip(&why);
        return None;
    }
    match PowerCutFs::mount() {
        Ok(fs) => Some(fs),
        Err(why) => {
            scoutlb_testkit::skip(&why);
            None
        }
    }
}

/// State number `n`: its default server names `n`, and a list of 50 servers makes it a few KB.
fn state(n: u64) -> State {
    let list = ServerList::from_servers((0..50).map(|i| Server::new(&format!("s{i}.n{n}.corp"), 22123).unwrap()));
    State {
        default_server: Some(Server::new(&format!("default-{n}.corp"), 1).unwrap()),
        list: Some(list.unwrap()),
        servers_from: None,
        ..State::default()
    }
}

/// The number of a state written by [`state`].
fn number(state: &State) -> Option<u64> {
    state
        .default_server
        .as_ref()?
        .host()
        .strip_prefix("default-")?
        .strip_suffix(".corp")?
        .parse()
        .ok()
}

/// A small random generator for the cut points (seeded from the clock, printed for a rerun).
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        let seed = std::env::var("SCOUTLB_POWER_CUT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 | 1);
        println!("cut points from seed {seed} (SCOUTLB_POWER_CUT_SEED={seed} repeats them)");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Run `save(n)` for n = start, start+1, ... in a thread until it fails, cut the power after a
/// random delay, power back on; the last number whose save returned before the cut.
fn save_until_cut(fs: &PowerCutFs, rng: &mut Rng, start: u64, save: impl Fn(u64) -> bool + Send + 'static) -> u64 {
    let acked = Arc::new(AtomicU64::new(start - 1));
    let stop = Arc::new(AtomicBool::new(false));
    let saver = {
        let (acked, stop) = (acked.clone(), stop.clone());
        thread::spawn(move || {
            let mut n = start;
            while !stop.load(Ordering::SeqCst) && save(n) {
                acked.store(n, Ordering::SeqCst);
                n += 1;
            }
        })
    };
    thread::sleep(Duration::from_micros(rng.below(3000)));
    fs.cut();
    let acked_at_cut = acked.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    saver.join().unwrap();
    fs.restart();
    acked_at_cut
}

#[test]
fn power_cuts_around_saves_leave_the_old_or_the_new_state_file() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(fs) = mounted() else { return };
    let mut rng = Rng::new();
    let path = fs.path().join("agent").join("state.json");
    // The agent's folder exists (scoutlb creates none: behaviour.md, "State file").
    std::fs::create_dir(path.parent().unwrap()).unwrap();
    StateFile::open(&path).unwrap().save(&state(0)).unwrap();
    let (mut old, mut new, mut during) = (0, 0, 0);
    let mut last = 0;
    for cut in 0..CUTS {
        let writer = StateFile::open(&path).unwrap();
        let acked = save_until_cut(&fs, &mut rng, last + 1, move |n| writer.save(&state(n)).is_ok());
        // After the restart: what an agent starting now would load.
        let loaded = StateFile::open(&path).unwrap().load().unwrap();
        assert!(
            loaded.warning.is_none(),
            "cut {cut}: the state file is damaged: {:?}",
            loaded.warning
        );
        let found = number(&loaded.state).unwrap_or_else(|| panic!("cut {cut}: no state after the cut"));
        assert!(
            found == acked || found == acked + 1,
            "cut {cut}: found state {found}, but {acked} was saved and at most {} in progress",
            acked + 1
        );
        assert_eq!(
            loaded.state,
            state(found),
            "cut {cut}: state {found} is not the one saved"
        );
        if found == acked {
            old += 1
        } else {
            new += 1
        }
        during += u64::from(acked > last);
        last = found;
    }
    let stats = fs.stats();
    println!(
        "state file: {CUTS} power cuts, {CUTS} left a whole file: {old} the last saved state, {new} the one in progress; \
         {during} of the cuts after at least one completed save of the round; {} bytes of page cache lost; {} saves",
        stats.bytes_lost, stats.renames
    );
    assert_eq!(stats.cuts, CUTS);
    assert!(
        stats.bytes_lost > 0,
        "no cut fell between a write and its fsync: the test proves nothing"
    );
}

/// The control: a temporary file written and renamed over the target, without any fsync.
fn write_without_fsync(path: &Path, n: u64) -> std::io::Result<()> {
    let tmp = path.with_file_name(".state.json.tmp-control");
    let mut f = File::create(&tmp)?;
    f.write_all(&serde_json::to_vec_pretty(&state(n).to_json(std::time::SystemTime::now())).unwrap())?;
    drop(f);
    fs::rename(&tmp, path)
}

#[test]
fn a_writer_without_fsync_loses_the_file_in_the_same_power_cuts() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(fs) = mounted() else { return };
    let mut rng = Rng::new();
    let path = fs.path().join("state.json");
    write_without_fsync(&path, 0).unwrap();
    let cuts = CUTS;
    let mut lost = 0;
    let mut last = 0;
    for _ in 0..cuts {
        let target = path.clone();
        let acked = save_until_cut(&fs, &mut rng, last + 1, move |n| {
            write_without_fsync(&target, n).is_ok()
        });
        let text = fs::read(&path).unwrap_or_default();
        let whole = serde_json::from_slice::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["default_server"]["host"].as_str().map(str::to_string));
        match whole {
            Some(host) if host == format!("default-{acked}.corp") || host == format!("default-{}.corp", acked + 1) => {}
            _ => lost += 1,
        }
        last = acked + 1;
    }
    println!("control writer without fsync: {cuts} power cuts, the file lost (empty or torn) in {lost}");
    assert!(
        lost > cuts / 2,
        "the control lost the file in only {lost} of {cuts} cuts: the file system keeps unsynced data"
    );
}

#[test]
fn injected_errors_fail_the_save_and_keep_the_old_file() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(fs) = mounted() else { return };
    let path = fs.path().join("state.json");
    let file = StateFile::open(&path).unwrap();
    let mut n = 0;
    for op in [Op::Create, Op::Write, Op::Fsync, Op::Rename] {
        for errno in [libc::EIO, libc::ENOSPC] {
            n += 1;
            file.save(&state(n)).unwrap();
            fs.fail_next(op, errno);
            let err = file.save(&state(n + 1000)).unwrap_err();
            let os = std::io::Error::from_raw_os_error(errno).to_string();
            assert!(err.to_string().contains(&os), "{op:?}: {err}");
            assert_eq!(
                number(&file.load().unwrap().state),
                Some(n),
                "{op:?} {os}: the old state is gone"
            );
            let names: Vec<_> = fs::read_dir(fs.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert!(
                names.iter().all(|name| !name.to_string_lossy().contains(".tmp-")),
                "{op:?}: a temporary file is left: {names:?}"
            );
        }
    }
    // A failed fsync of the folder comes after the rename: the save fails, the new file is in place.
    fs.fail_next(Op::FsyncDir, libc::EIO);
    let err = file.save(&state(77)).unwrap_err();
    assert!(err.to_string().contains("sync its folder"), "{err}");
    assert_eq!(number(&file.load().unwrap().state), Some(77));
    assert_eq!(fs.stats().injected_failures, 9);
}

#[test]
fn dropping_the_file_system_unmounts_it_and_removes_its_folder() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(fs) = mounted() else { return };
    let mountpoint = fs.path().to_path_buf();
    StateFile::open(&mountpoint.join("state.json"))
        .unwrap()
        .save(&state(1))
        .unwrap();
    fs.cut();
    drop(fs);
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap();
    let here = mountpoint.to_string_lossy();
    assert!(
        !mounts.lines().any(|l| l.split(' ').nth(1) == Some(&here)),
        "{here} is still mounted"
    );
    assert!(!mountpoint.parent().unwrap().exists(), "{here}'s folder is left behind");
}

/// The `powercut-fs` binary, for tests in other languages: every command of its doc comment
/// answers as documented, and `quit` unmounts.
#[test]
fn the_powercut_fs_binary_obeys_its_commands_and_unmounts_on_quit() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(why) = PowerCutFs::unavailable() {
        scoutlb_testkit::skip(&why);
        return;
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_powercut-fs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let mut output = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = output.next().unwrap().unwrap();
    let Some(mounted) = first.strip_prefix("mounted ") else {
        panic!("expected `mounted PATH`, got {first:?}")
    };
    let mountpoint = Path::new(mounted).to_path_buf();
    let mut say = |line: &str| -> String {
        writeln!(input, "{line}").unwrap();
        output.next().unwrap().unwrap()
    };
    assert!(say("stats").starts_with("stats Stats {"));
    let file = StateFile::open(&mountpoint.join("state.json")).unwrap();
    file.save(&state(1)).unwrap();

    assert_eq!(say("fail write ENOSPC"), "ok");
    let err = file.save(&state(2)).unwrap_err();
    let enospc = std::io::Error::from_raw_os_error(libc::ENOSPC).to_string();
    assert!(err.to_string().contains(&enospc), "{err}");
    assert_eq!(number(&file.load().unwrap().state), Some(1));

    // Data that was never fsynced is gone after a cut and a restart (the name stays, empty).
    fs::write(mountpoint.join("unsynced"), b"lost").unwrap();
    assert_eq!(say("cut"), "ok");
    assert!(file.save(&state(3)).is_err(), "a save during the cut succeeded");
    assert_eq!(say("restart"), "ok");
    assert_eq!(
        fs::read(mountpoint.join("unsynced")).unwrap(),
        b"",
        "unsynced data survived the cut"
    );
    assert_eq!(number(&file.load().unwrap().state), Some(1));
    let stats = say("stats");
    assert!(
        stats.contains("cuts: 1,") && stats.contains("injected_failures: 1 "),
        "{stats}"
    );

    assert!(say("fail write EWHAT").starts_with("error: expected `fail"));
    assert!(say("format c:").starts_with("error: unknown command"));
    writeln!(input, "quit").unwrap();
    assert!(child.wait().unwrap().success());
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(
        !mounts.lines().any(|l| l.split(' ').nth(1) == Some(mounted)),
        "{mounted} is still mounted after quit"
    );
}
