//! Counting the devices of each server (behaviour.md, "Reference cluster", "Loads and weights"):
//! a device that is served the list checks in, the check-ins are kept in memory and written to
//! the shared table `scout_devices` in one transaction every [`TICK`], and at the same tick the
//! number of devices whose last check-in is at each server is read back and served as the
//! entries' `load`.
//!
//! Requests never wait for the database: a check-in is one insertion into a map in memory, and
//! a boot storm of 10,000 devices is one write of 10,000 rows, not 10,000 transactions.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::db::{self, Database, Member, Visit};
use crate::listing::Listing;
use crate::steer::Steering;

/// How often the check-ins are written and the loads read.
pub const TICK: Duration = Duration::from_secs(1);

/// How often the check-ins older than the window are deleted.
const FORGET_EVERY: Duration = Duration::from_secs(60);

/// `--load-window` when none is given: how long a check-in counts.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(600);

/// Most distinct devices kept in memory while the database cannot be written; check-ins of
/// further devices are dropped (and counted) until it can.
pub const MAX_PENDING: usize = 100_000;

/// How often, at most, a continuing database failure is logged again.
const REPEAT_LOG: Duration = Duration::from_secs(5);

/// A batch of at least this many devices is logged with the time its write took (a boot storm).
const LOG_BATCH: usize = 1000;

/// The check-ins at this server not yet written: the latest of each device.
#[derive(Debug, Default)]
pub struct CheckIns {
    pending: Mutex<HashMap<String, Instant>>,
    dropped: AtomicU64,
}

impl CheckIns {
    /// Notes that `device` was served the list now.
    pub fn note(&self, device: &str) {
        self.note_at(device, Instant::now());
    }

    /// Notes that `device` was served the list at `at`.
    fn note_at(&self, device: &str, at: Instant) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(seen) = pending.get_mut(device) {
            *seen = (*seen).max(at);
        } else if pending.len() < MAX_PENDING {
            pending.insert(device.to_owned(), at);
        } else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Takes the check-ins noted so far.
    fn take(&self) -> HashMap<String, Instant> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Puts back a batch that could not be written, to be written with the next one.
    fn put_back(&self, batch: HashMap<String, Instant>) {
        for (device, at) in batch {
            self.note_at(&device, at);
        }
    }

    /// How many check-ins of new devices were dropped because too many were pending, since the
    /// last call.
    fn take_dropped(&self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed)
    }
}

/// The database clock read at one instant of this process's clock: it turns the instants of
/// check-ins into database times, so that check-ins at different servers compare in time.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// The database clock (ms since the Unix epoch) at `at`.
    pub db_ms: i64,
    /// The instant it was read (the middle of the query).
    pub at: Instant,
}

impl Clock {
    /// The database time of `instant`.
    pub fn db_time(&self, instant: Instant) -> i64 {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        if instant >= self.at {
            self.db_ms.saturating_add(ms(instant - self.at))
        } else {
            self.db_ms.saturating_sub(ms(self.at - instant))
        }
    }
}

/// A batch of check-ins as rows to write: each device with the database time of its check-in.
pub fn visits(batch: &HashMap<String, Instant>, clock: Clock) -> Vec<Visit> {
    batch
        .iter()
        .map(|(device, at)| Visit {
            device: device.clone(),
            at_ms: clock.db_time(*at),
        })
        .collect()
}

/// The number of devices of each server, by id, as read from `scout_devices`, and the servers
/// marked draining, as read from `scout_servers`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loads {
    devices: HashMap<String, u64>,
    draining: HashSet<String>,
}

impl Loads {
    /// The loads of `rows` (server id, devices), no server marked draining.
    pub fn new(rows: impl IntoIterator<Item = (String, u64)>) -> Self {
        Loads {
            devices: rows.into_iter().collect(),
            draining: HashSet::new(),
        }
    }

    /// These loads with the servers of `ids` marked draining.
    pub fn with_marks(mut self, ids: impl IntoIterator<Item = String>) -> Self {
        self.draining = ids.into_iter().collect();
        self
    }

    /// The load of each of `members`, in their order (0 for a server without devices); `None`
    /// when one of them does not count its check-ins, since a load is served in every entry or
    /// in none.
    pub fn per_member(&self, members: &[Member]) -> Option<Vec<u64>> {
        members
            .iter()
            .map(|m| m.load_window_ms.map(|_| self.devices.get(&m.id).copied().unwrap_or(0)))
            .collect()
    }

    /// Whether each of `members`, in their order, is marked draining.
    pub fn marks(&self, members: &[Member]) -> Vec<bool> {
        members.iter().map(|m| self.draining.contains(&m.id)).collect()
    }
}

/// Writes this server's check-ins and draining mark, and reads every server's loads and marks,
/// from a connection of its own.
pub struct Counter {
    db: Database,
    self_id: String,
    window_ms: i64,
    check_ins: Arc<CheckIns>,
    listing: Arc<Listing>,
    steering: Arc<Steering>,
    last_forget: Option<Instant>,
    last_log: Option<Instant>,
    failing: bool,
}

impl Counter {
    /// Makes a counter for server `self_id` that counts check-ins younger than `window_ms` and
    /// writes the draining mark of `steering`.
    pub fn new(
        db: Database,
        self_id: &str,
        window_ms: i64,
        check_ins: Arc<CheckIns>,
        listing: Arc<Listing>,
        steering: Arc<Steering>,
    ) -> Self {
        Counter {
            db,
            self_id: self_id.to_owned(),
            window_ms,
            check_ins,
            listing,
            steering,
            last_forget: None,
            last_log: None,
            failing: false,
        }
    }

    /// Writes the check-ins noted since the last tick, reads the loads and publishes them;
    /// `false` when the database failed (the check-ins are kept for the next tick, and the last
    /// loads stay served).
    pub fn tick(&mut self) -> bool {
        let dropped = self.check_ins.take_dropped();
        if dropped > 0 {
            note!(
                "loads: {dropped} check-ins of new devices dropped: more than {MAX_PENDING} devices wait to be written"
            );
        }
        let batch = self.check_ins.take();
        if !batch.is_empty()
            && let Err(e) = self.write(&batch)
        {
            let waiting = batch.len();
            self.check_ins.put_back(batch);
            self.failed(&format!(
                "writing the check-ins of {waiting} devices failed: {}",
                db::describe(&e)
            ));
            return false;
        }
        // Written at every tick: a row registered again (after a prune) starts unmarked.
        if let Err(e) = self.db.mark(&self.self_id, self.steering.keeps_devices()) {
            self.failed(&format!("writing the draining mark failed: {}", db::describe(&e)));
            return false;
        }
        match self
            .db
            .loads(self.window_ms)
            .and_then(|rows| Ok((rows, self.db.marked()?)))
        {
            Ok((rows, marked)) => {
                self.listing.publish_loads(Loads::new(rows).with_marks(marked));
            }
            Err(e) => {
                self.failed(&format!("reading the loads failed: {}", db::describe(&e)));
                return false;
            }
        }
        if self.last_forget.is_none_or(|t| t.elapsed() >= FORGET_EVERY) {
            match self.db.forget_devices(self.window_ms) {
                Ok(_) => self.last_forget = Some(Instant::now()),
                Err(e) => {
                    self.failed(&format!("deleting old check-ins failed: {}", db::describe(&e)));
                    return false;
                }
            }
        }
        if std::mem::take(&mut self.failing) {
            note!("loads: database available again");
            self.last_log = None;
        }
        true
    }

    /// Writes `batch` at the database times of its check-ins (the clock read first).
    fn write(&mut self, batch: &HashMap<String, Instant>) -> db::DbResult<()> {
        let before = Instant::now();
        let db_ms = self.db.now_ms()?;
        let clock = Clock {
            db_ms,
            at: before + before.elapsed() / 2,
        };
        self.db.check_in(&self.self_id, &visits(batch, clock))?;
        if batch.len() >= LOG_BATCH {
            note!(
                "loads: the check-ins of {} devices written in one transaction in {:.1?}",
                batch.len(),
                before.elapsed()
            );
        }
        Ok(())
    }

    /// Logs a failure: the first of a run, then one every [`REPEAT_LOG`].
    fn failed(&mut self, what: &str) {
        self.failing = true;
        if self.last_log.is_none_or(|t| t.elapsed() >= REPEAT_LOG) {
            note!("loads: {what}; serving the last loads read");
            self.last_log = Some(Instant::now());
        }
    }

    /// Ticks every [`TICK`] from a thread of its own, for the life of the process.
    pub fn start(mut self) -> Result<(), String> {
        thread::Builder::new()
            .name("loads".into())
            .spawn(move || {
                loop {
                    thread::sleep(TICK);
                    self.tick();
                }
            })
            .map(drop)
            .map_err(|e| format!("cannot start the thread that counts the devices: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, counts: bool) -> Member {
        Member {
            id: id.into(),
            host: "h".into(),
            port: 1,
            started_at: 0,
            weight: None,
            load_window_ms: counts.then_some(600_000),
        }
    }

    #[test]
    fn a_batch_keeps_the_latest_check_in_of_each_device() {
        let check_ins = CheckIns::default();
        let t0 = Instant::now();
        check_ins.note_at("d1", t0);
        check_ins.note_at("d2", t0 + Duration::from_millis(300));
        check_ins.note_at("d1", t0 + Duration::from_millis(700));
        check_ins.note_at("d1", t0 + Duration::from_millis(100));
        let batch = check_ins.take();
        let clock = Clock {
            db_ms: 50_000,
            at: t0 + Duration::from_millis(500),
        };
        let mut rows = visits(&batch, clock);
        rows.sort_by(|a, b| a.device.cmp(&b.device));
        assert_eq!(
            rows,
            [
                Visit {
                    device: "d1".into(),
                    at_ms: 50_200
                },
                Visit {
                    device: "d2".into(),
                    at_ms: 49_800
                }
            ]
        );
        assert!(check_ins.take().is_empty(), "taken");
        // A batch that could not be written comes back, merged with the newer check-ins.
        check_ins.note_at("d2", t0 + Duration::from_millis(900));
        check_ins.put_back(batch);
        let again = check_ins.take();
        assert_eq!(again.len(), 2);
        assert_eq!(again["d2"], t0 + Duration::from_millis(900));
    }

    #[test]
    fn pending_devices_are_bounded() {
        let check_ins = CheckIns::default();
        for i in 0..MAX_PENDING + 3 {
            check_ins.note(&format!("d{i}"));
        }
        // A device already waiting is still noted.
        check_ins.note("d0");
        assert_eq!(check_ins.take_dropped(), 3);
        assert_eq!(check_ins.take().len(), MAX_PENDING);
        assert_eq!(check_ins.take_dropped(), 0);
    }

    #[test]
    fn a_load_for_every_member_or_none() {
        let loads = Loads::new([("a".to_owned(), 5), ("gone".to_owned(), 2)]);
        let members = [member("a", true), member("b", true)];
        assert_eq!(loads.per_member(&members), Some(vec![5, 0]));
        // A server that does not count (an older version) hides every load.
        assert_eq!(loads.per_member(&[member("a", true), member("old", false)]), None);
        assert_eq!(Loads::default().per_member(&members), Some(vec![0, 0]));
    }

    #[test]
    fn check_ins_are_counted_at_the_last_server_in_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let mut db = Database::new(path.to_str().unwrap());
        let now = db.now_ms().unwrap();
        let visit = |device: &str, age_ms| Visit {
            device: device.into(),
            at_ms: now - age_ms,
        };
        db.check_in("a", &[visit("d1", 0), visit("d2", 0), visit("d3", 0)])
            .unwrap();
        // d1 moves to b; d2's check-in at b is older than its check-in at a: it stays on a.
        db.check_in("b", &[visit("d1", 0), visit("d2", 60_000)]).unwrap();
        let mut loads = db.loads(600_000).unwrap();
        loads.sort();
        assert_eq!(loads, [("a".to_owned(), 2), ("b".to_owned(), 1)]);
        // d4 was seen 20 minutes ago: out of the window, counted nowhere, and forgotten.
        db.check_in("b", &[visit("d4", 1_200_000)]).unwrap();
        let mut loads = db.loads(600_000).unwrap();
        loads.sort();
        assert_eq!(loads, [("a".to_owned(), 2), ("b".to_owned(), 1)]);
        assert_eq!(db.forget_devices(600_000).unwrap(), 1);
    }
}
