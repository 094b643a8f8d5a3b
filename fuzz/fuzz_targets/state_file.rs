//! The state-file loader (`StateFile::load`) on arbitrary file contents, on a RAM-backed folder.
//!
//! Properties: loading never fails with an I/O error; a file it parses stays in place, and saving
//! the loaded state and loading again gives the same state (the writer's output is read back, its
//! server list included); a corrupt file is moved aside unchanged with a warning and an empty
//! state; a `format` that is not a known integer (a newer one's) is refused and the file is left
//! untouched.
#![no_main]

use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use scoutlb::{Error, State, StateFile};

struct Setup {
    dir: PathBuf,
    file: StateFile,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let dir = scoutlb_fuzz::scratch_dir("state");
        fs::create_dir_all(&dir).unwrap();
        let file = StateFile::open(&dir.join("state.json")).unwrap();
        Setup { dir, file }
    })
}

fuzz_target!(|bytes: &[u8]| {
    let Setup { dir, file } = setup();
    fs::write(file.path(), bytes).unwrap();
    match file.load() {
        Ok(loaded) => match loaded.warning {
            None => {
                assert_eq!(fs::read(file.path()).unwrap(), bytes, "a parsed file was changed");
                file.save(&loaded.state).unwrap();
                let again = file.load().unwrap();
                assert!(
                    again.warning.is_none(),
                    "the writer's own file is corrupt: {:?}",
                    again.warning
                );
                assert_eq!(again.state, loaded.state, "saved and loaded back differs");
            }
            Some(why) => {
                assert_eq!(loaded.state, State::default());
                assert!(!file.path().exists(), "the corrupt file was not moved aside ({why})");
                let aside: Vec<_> = fs::read_dir(dir)
                    .unwrap()
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("state.json.corrupt-"))
                    .collect();
                assert_eq!(aside.len(), 1, "one file moved aside");
                assert_eq!(fs::read(aside[0].path()).unwrap(), bytes, "the moved file was changed");
                fs::remove_file(aside[0].path()).unwrap();
            }
        },
        Err(Error::StateFormat { found, known, .. }) => {
            assert_ne!(found, known.to_string(), "a known format was refused");
            assert_eq!(fs::read(file.path()).unwrap(), bytes, "a newer file was changed");
        }
        Err(e) => panic!("loading failed: {e}"),
    }
});
