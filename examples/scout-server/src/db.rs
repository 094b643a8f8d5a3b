//! The membership tables, behind one trait so that SQLite and PostgreSQL share the logic.
//!
//! Two membership tables, created when missing (and the relocation table, [`RELOCATION_SCHEMA`],
//! and the check-in table, [`LOAD_SCHEMA`]):
//! - `scout_servers (id, host, port, started_at, heartbeat_at, weight, load_window_ms, draining)`:
//!   one row per registered server, times in milliseconds since the Unix epoch by the database's
//!   clock (the last three columns, [`LOAD_COLUMNS`], are added to a table made before them).
//! - `scout_generation (singleton, value)`: one row whose `value` goes up by one in the same
//!   transaction as every change of membership: a registration, a clean exit, or the removal
//!   (pruning) of rows whose heartbeat aged past the window. `generation` in the served list is
//!   this value, so it changes exactly when the set of live rows does.

use std::error::Error;

/// Any error from a backend; the text is what gets logged.
pub type DbError = Box<dyn Error + Send + Sync>;

/// Result of a database operation.
pub type DbResult<T> = Result<T, DbError>;

/// The error with its chain of causes (the `postgres` crate puts the server's message in the
/// source of a terse "db error").
pub fn describe(error: &DbError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

/// Schema shared by both backends (plain SQL that SQLite and PostgreSQL both accept).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS scout_servers (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS scout_generation (
    singleton INTEGER PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO scout_generation (singleton, value) VALUES (1, 0) ON CONFLICT (singleton) DO NOTHING;
";

/// The relocation table (behaviour.md, "Reference cluster"), created when missing, also in a
/// database made before it existed: `scout_relocations (device, target, mode)`, one row per
/// device that any server of the cluster answers with `relocate` until it reaches `target`.
pub const RELOCATION_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS scout_relocations (
    device TEXT PRIMARY KEY,
    target TEXT NOT NULL,
    mode TEXT NOT NULL
);
";

/// The check-in table (behaviour.md, "Reference cluster", "Loads and weights"), created when
/// missing, also in a database made before it existed: `scout_devices (device, server, at)`, one
/// row per device, naming the server of its most recent check-in and when it was (database
/// clock, ms since the Unix epoch).
pub const LOAD_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS scout_devices (
    device TEXT PRIMARY KEY,
    server TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS scout_devices_at ON scout_devices (at);
";

/// The columns of `scout_servers` added with the loads, each with its SQL type: a server's
/// `--weight` (NULL: none), its `--load-window` in ms (NULL: a server that does not count its
/// check-ins, of a version before the loads) and its draining mark (1 while it drains keeping
/// its devices, else NULL or 0; behaviour.md, "Reference cluster").
pub const LOAD_COLUMNS: [(&str, &str); 3] = [
    ("weight", "INTEGER"),
    ("load_window_ms", "BIGINT"),
    ("draining", "BIGINT"),
];

/// One check-in to write: `device` asked this server at `at_ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Visit {
    /// The device id (its `Scout-Device-Id`).
    pub device: String,
    /// When it asked (database clock, ms since the Unix epoch).
    pub at_ms: i64,
}

/// One row of `scout_relocations`: `device` belongs on server `target`, moving `mode` (`online`
/// or `offline`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relocation {
    /// The device id (its `Scout-Device-Id`).
    pub device: String,
    /// The id of the server it belongs on.
    pub target: String,
    /// `online` or `offline`, as the wire format's `relocate.mode`.
    pub mode: String,
}

/// One registered server, as stored in `scout_servers`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Unique id of the server (`self` in the wire format).
    pub id: String,
    /// Host name or IP literal that devices should connect to.
    pub host: String,
    /// Port that devices should connect to.
    pub port: u16,
    /// Time of first registration (ms since the Unix epoch, database clock); orders the list.
    pub started_at: i64,
    /// Its `--weight`, published as the entries' `weight`; `None` publishes none (= 1).
    pub weight: Option<u32>,
    /// Its `--load-window` in ms; `None` for a server that does not count its check-ins.
    pub load_window_ms: Option<i64>,
}

/// One row of `scout_servers` with its last heartbeat.
#[derive(Clone, Debug)]
pub struct Row {
    /// The registered server.
    pub member: Member,
    /// Time of the last heartbeat (ms since the Unix epoch, database clock).
    pub heartbeat_at: i64,
}

/// One consistent read of both tables and the database clock.
#[derive(Clone, Debug)]
pub struct Table {
    /// The database clock at the time of the read.
    pub now_ms: i64,
    /// The membership generation counter.
    pub generation: i64,
    /// Every row, ordered by `started_at`, then `id`.
    pub rows: Vec<Row>,
}

/// The live servers and the generation they belong to: what `/scout/v1/servers` serves.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Live servers in registration order.
    pub servers: Vec<Member>,
    /// Membership generation counter.
    pub generation: i64,
    /// When the first of these servers dies unless it heartbeats again (database clock, ms since
    /// the Unix epoch); `None` for an empty list.
    pub expires_at: Option<i64>,
}

/// The database clock and the generation counter, read in one cheap query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// The database clock (ms since the Unix epoch).
    pub now_ms: i64,
    /// The membership generation counter.
    pub generation: i64,
}

/// What a heartbeat found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Beat {
    /// The row was there and is refreshed.
    Refreshed,
    /// The row was gone (pruned by a peer while this server could not reach the database) and
    /// is registered again with its original `started_at`.
    Reregistered,
}

/// The operations one database connection offers; each is one transaction.
pub trait Backend: Send {
    /// Creates the tables when missing.
    fn setup(&mut self) -> DbResult<()>;
    /// Reads the database clock (ms since the Unix epoch).
    fn now_ms(&mut self) -> DbResult<i64>;
    /// Inserts or replaces the row of `member` with a fresh heartbeat; bumps the generation.
    fn register(&mut self, member: &Member) -> DbResult<()>;
    /// Refreshes the heartbeat of `id`; `false` when its row is gone.
    fn heartbeat(&mut self, id: &str) -> DbResult<bool>;
    /// Deletes rows whose heartbeat is `window_ms` old or older; bumps the generation if any went.
    fn prune(&mut self, window_ms: i64) -> DbResult<u64>;
    /// Deletes the row of `id`; bumps the generation if it was there.
    fn deregister(&mut self, id: &str) -> DbResult<()>;
    /// Reads every row, the generation and the clock in one read transaction.
    fn read(&mut self) -> DbResult<Table>;
    /// Reads the clock and the generation only.
    fn head(&mut self) -> DbResult<Head>;
    /// Whether the connection must be dropped and opened again after an error.
    fn reconnect_after_error(&self) -> bool;
    /// Reads every row of `scout_relocations`.
    fn relocations(&mut self) -> DbResult<Vec<Relocation>>;
    /// Inserts or replaces the rows of `rows` in one transaction.
    fn relocate(&mut self, rows: &[Relocation]) -> DbResult<()>;
    /// Deletes the rows of `devices` whose target is still `target`; how many went.
    fn arrived(&mut self, devices: &[String], target: &str) -> DbResult<u64>;
    /// Records in one transaction that `visits` checked in at `server`, unless the table has a
    /// later check-in of the device.
    fn check_in(&mut self, server: &str, visits: &[Visit]) -> DbResult<()>;
    /// The number of devices whose last check-in is younger than `window_ms`, per server id.
    fn loads(&mut self, window_ms: i64) -> DbResult<Vec<(String, u64)>>;
    /// Writes server `id`'s draining mark.
    fn mark(&mut self, id: &str, draining: bool) -> DbResult<()>;
    /// The ids of the servers whose draining mark is set.
    fn marked(&mut self) -> DbResult<Vec<String>>;
    /// Deletes the check-ins `window_ms` old or older; how many went.
    fn forget_devices(&mut self, window_ms: i64) -> DbResult<u64>;
}

/// Opens a backend for `target`: a `postgres://` or `postgresql://` URL, else a SQLite file path.
pub fn open(target: &str) -> DbResult<Box<dyn Backend>> {
    if is_postgres_url(target) {
        Ok(Box::new(crate::postgres::Postgres::connect(target)?))
    } else {
        Ok(Box::new(crate::sqlite::Sqlite::open(target)?))
    }
}

/// Whether `target` names a PostgreSQL database rather than a SQLite file.
pub fn is_postgres_url(target: &str) -> bool {
    target.starts_with("postgres://") || target.starts_with("postgresql://")
}

/// A lazily opened connection that is opened again after it breaks.
pub struct Database {
    target: String,
    conn: Option<Box<dyn Backend>>,
}

impl Database {
    /// Makes a handle for `target`; nothing is opened until the first operation.
    pub fn new(target: &str) -> Self {
        Database {
            target: target.to_owned(),
            conn: None,
        }
    }

    /// Runs `op` on the connection, opening it (and creating the schema) first if needed.
    fn with<T>(&mut self, op: impl FnOnce(&mut dyn Backend) -> DbResult<T>) -> DbResult<T> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => {
                let mut conn = open(&self.target)?;
                conn.setup()?;
                self.conn.insert(conn)
            }
        };
        let result = op(conn.as_mut());
        if result.is_err() && conn.reconnect_after_error() {
            self.conn = None;
        }
        result
    }

    /// Registers `me` as a new server now: its `started_at` becomes the database clock.
    pub fn register_new(&mut self, mut me: Member) -> DbResult<Member> {
        self.with(|db| {
            me.started_at = db.now_ms()?;
            db.register(&me)?;
            Ok(me)
        })
    }

    /// Refreshes the heartbeat of `me` (registering it again if its row went) and prunes dead rows.
    pub fn heartbeat(&mut self, me: &Member, window_ms: i64) -> DbResult<Beat> {
        self.with(|db| {
            let beat = if db.heartbeat(&me.id)? {
                Beat::Refreshed
            } else {
                db.register(me)?;
                Beat::Reregistered
            };
            db.prune(window_ms)?;
            Ok(beat)
        })
    }

    /// Removes the row of `id` so the server leaves the list at once.
    pub fn deregister(&mut self, id: &str) -> DbResult<()> {
        self.with(|db| db.deregister(id))
    }

    /// Reads the clock and the generation: enough to tell whether the membership changed.
    pub fn head(&mut self) -> DbResult<Head> {
        self.with(|db| db.head())
    }

    /// Reads every relocation instruction.
    pub fn relocations(&mut self) -> DbResult<Vec<Relocation>> {
        self.with(|db| db.relocations())
    }

    /// Stores the relocation instructions `rows` (replacing a device's earlier one).
    pub fn relocate(&mut self, rows: &[Relocation]) -> DbResult<()> {
        self.with(|db| db.relocate(rows))
    }

    /// Drops the instructions of `devices` that reached `target`.
    pub fn arrived(&mut self, devices: &[String], target: &str) -> DbResult<u64> {
        self.with(|db| db.arrived(devices, target))
    }

    /// Reads the database clock (ms since the Unix epoch).
    pub fn now_ms(&mut self) -> DbResult<i64> {
        self.with(|db| db.now_ms())
    }

    /// Records the check-ins `visits` at `server`.
    pub fn check_in(&mut self, server: &str, visits: &[Visit]) -> DbResult<()> {
        self.with(|db| db.check_in(server, visits))
    }

    /// Reads the loads of every server, counting the check-ins younger than `window_ms`.
    pub fn loads(&mut self, window_ms: i64) -> DbResult<Vec<(String, u64)>> {
        self.with(|db| db.loads(window_ms))
    }

    /// Writes server `id`'s draining mark (behaviour.md, "Reference cluster").
    pub fn mark(&mut self, id: &str, draining: bool) -> DbResult<()> {
        self.with(|db| db.mark(id, draining))
    }

    /// The ids of the servers whose draining mark is set.
    pub fn marked(&mut self) -> DbResult<Vec<String>> {
        self.with(|db| db.marked())
    }

    /// Deletes the check-ins that aged past `window_ms`.
    pub fn forget_devices(&mut self, window_ms: i64) -> DbResult<u64> {
        self.with(|db| db.forget_devices(window_ms))
    }

    /// Reads the live servers; dead rows seen on the way are pruned first so that the list and
    /// the generation always agree.
    pub fn live(&mut self, window_ms: i64) -> DbResult<Snapshot> {
        self.with(|db| {
            let mut table = db.read()?;
            if table.rows.iter().any(|r| r.heartbeat_at <= table.now_ms - window_ms) {
                db.prune(window_ms)?;
                table = db.read()?;
            }
            Ok(snapshot(table, window_ms))
        })
    }
}

/// Keeps the rows of `table` whose heartbeat is younger than `window_ms`.
pub fn snapshot(table: Table, window_ms: i64) -> Snapshot {
    let cutoff = table.now_ms - window_ms;
    let live: Vec<Row> = table.rows.into_iter().filter(|r| r.heartbeat_at > cutoff).collect();
    Snapshot {
        expires_at: live.iter().map(|r| r.heartbeat_at + window_ms).min(),
        servers: live.into_iter().map(|r| r.member).collect(),
        generation: table.generation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, started_at: i64, heartbeat_at: i64) -> Row {
        Row {
            member: Member {
                id: id.into(),
                host: "h".into(),
                port: 1,
                started_at,
                weight: None,
                load_window_ms: None,
            },
            heartbeat_at,
        }
    }

    #[test]
    fn snapshot_keeps_only_fresh_rows_in_order() {
        let table = Table {
            now_ms: 10_000,
            generation: 7,
            rows: vec![row("a", 1, 9_000), row("b", 2, 5_000), row("c", 3, 5_001)],
        };
        let snap = snapshot(table, 5_000);
        let ids: Vec<_> = snap.servers.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["a", "c"]);
        assert_eq!(snap.generation, 7);
        assert_eq!(snap.expires_at, Some(10_001));
        let empty = Table {
            now_ms: 10_000,
            generation: 8,
            rows: vec![row("b", 2, 5_000)],
        };
        assert_eq!(snapshot(empty, 5_000).expires_at, None);
    }

    #[test]
    fn describe_follows_the_chain() {
        let plain: DbError = "locked".into();
        assert_eq!(describe(&plain), "locked");
        let terse: DbError = Box::new(Terse(std::io::Error::other("deadlock detected")));
        assert_eq!(describe(&terse), "db error: deadlock detected");
    }

    /// An error whose text hides its cause, like `postgres::Error`.
    #[derive(Debug)]
    struct Terse(std::io::Error);

    impl std::fmt::Display for Terse {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("db error")
        }
    }

    impl Error for Terse {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn postgres_urls_are_recognised() {
        assert!(is_postgres_url("postgres://u@h/db"));
        assert!(is_postgres_url("postgresql://u@h/db"));
        assert!(!is_postgres_url("/tmp/scout.sqlite"));
    }
}
