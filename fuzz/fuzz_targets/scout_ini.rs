//! `ScoutIni::parse` on arbitrary bytes (behaviour.md, "Scout INI files"): never panics; every
//! setting names a key of the table (or a field of `retry`), its place a line of the input, and applying it to the
//! default configuration either succeeds or is refused as `scout_ini`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scoutlb::{Config, Error, KEYS, RETRY_KEYS, ScoutIni};

fuzz_target!(|bytes: &[u8]| {
    let lines = bytes.split(|b| *b == b'\n').count();
    let ini = match ScoutIni::parse("fuzz.ini", bytes) {
        Ok(ini) => ini,
        Err(e) => {
            assert!(e.place.line >= 1 && e.place.line <= lines, "{e}");
            return;
        }
    };
    for s in &ini.settings {
        let known = match s.key.strip_prefix("retry.") {
            Some(field) => RETRY_KEYS.contains(&field),
            None => KEYS.contains(&s.key),
        };
        assert!(known, "{} is no key", s.key);
        assert!(s.place.line >= 1 && s.place.line <= lines);
    }
    for p in &ini.ignored {
        assert!(p.line >= 1 && p.line <= lines);
    }
    let mut config = Config::default();
    match config.apply_scout_ini(&ini) {
        Ok(()) => {}
        Err(Error::Config { key, .. }) => assert_eq!(key, "scout_ini"),
        Err(other) => panic!("unexpected error {other:?}"),
    }
});
