//! Keeps the [`Listing`] in step with the database from a thread of its own: every [`POLL`] it
//! reads the clock and the generation (one cheap query), and reads the rows again only when the
//! generation moved or a listed server's heartbeat has just aged past the window. Requests are
//! never what makes it read.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::db::{self, Database};
use crate::listing::Listing;

/// How often the generation is looked at.
pub const POLL: Duration = Duration::from_millis(20);

/// How often, at most, a continuing database failure is logged again.
const REPEAT_LOG: Duration = Duration::from_secs(5);

/// Reads the membership from its own database connection and publishes it.
pub struct Refresher {
    db: Database,
    window_ms: i64,
    listing: Arc<Listing>,
    /// Generation of the last rows read.
    generation: Option<i64>,
    /// When (database clock) the first listed server dies unless it heartbeats.
    expires_at: Option<i64>,
    failing_since: Option<Instant>,
    last_log: Option<Instant>,
}

impl Refresher {
    /// Makes a refresher that reads `db` and publishes into `listing`.
    pub fn new(db: Database, window_ms: i64, listing: Arc<Listing>) -> Self {
        Refresher {
            db,
            window_ms,
            listing,
            generation: None,
            expires_at: None,
            failing_since: None,
            last_log: None,
        }
    }

    /// Polls every [`POLL`] (every `retry` while the database fails), for the life of the process.
    pub fn run(mut self, retry: Duration) {
        loop {
            let pause = if self.poll() { POLL } else { retry.max(POLL) };
            thread::sleep(pause);
        }
    }

    /// Reads the rows again if the membership may have changed; `false` when the database failed.
    pub fn poll(&mut self) -> bool {
        match self.db.head() {
            Ok(head) => {
                let expired = self.expires_at.is_some_and(|t| head.now_ms >= t);
                if self.generation == Some(head.generation) && !expired {
                    self.recovered();
                    return true;
                }
                self.refresh()
            }
            Err(e) => {
                self.failed(&e);
                false
            }
        }
    }

    /// Reads the live servers (pruning dead rows) and publishes them; `false` when the database
    /// failed, and the last list stays served.
    pub fn refresh(&mut self) -> bool {
        match self.db.live(self.window_ms) {
            Ok(snapshot) => {
                self.recovered();
                self.generation = Some(snapshot.generation);
                self.expires_at = snapshot.expires_at;
                self.listing.publish(&snapshot);
                true
            }
            Err(e) => {
                self.failed(&e);
                false
            }
        }
    }

    /// Logs the end of a run of failures.
    fn recovered(&mut self) {
        if let Some(since) = self.failing_since.take() {
            note!("server list: database available again after {:.1?}", since.elapsed());
            self.last_log = None;
        }
    }

    /// Logs a failure: the first of a run, then one every [`REPEAT_LOG`].
    fn failed(&mut self, error: &db::DbError) {
        let now = Instant::now();
        let since = *self.failing_since.get_or_insert(now);
        if since == now || self.last_log.is_none_or(|t| now - t >= REPEAT_LOG) {
            let fallback = if self.listing.current().snapshot.is_some() {
                "the last list read"
            } else {
                "503"
            };
            note!(
                "reading the server list failed: {}; serving {fallback}",
                db::describe(error)
            );
            self.last_log = Some(now);
        }
    }
}
