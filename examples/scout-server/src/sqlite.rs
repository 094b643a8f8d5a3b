//! SQLite backend: one file shared by several processes, WAL mode, a busy timeout.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::db::{Backend, DbResult, Head, Member, RELOCATION_SCHEMA, Relocation, Row, SCHEMA, Table};

/// How long a statement waits for another process's lock before it fails (and is retried later).
const BUSY_TIMEOUT: Duration = Duration::from_millis(1000);

/// The database clock in ms since the Unix epoch.
const NOW: &str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";

/// One connection to a SQLite file.
pub struct Sqlite {
    conn: Connection,
}

impl Sqlite {
    /// Opens (creating if needed) the file at `path` in WAL mode.
    pub fn open(path: &str) -> DbResult<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(format!("{path}: cannot switch to WAL mode (journal_mode is {mode})").into());
        }
        conn.execute_batch("PRAGMA synchronous = NORMAL")?;
        Ok(Sqlite { conn })
    }

    /// Adds one to the generation counter (inside the caller's transaction).
    fn bump(conn: &Connection) -> DbResult<()> {
        conn.execute("UPDATE scout_generation SET value = value + 1 WHERE singleton = 1", [])?;
        Ok(())
    }
}

impl Backend for Sqlite {
    fn setup(&mut self) -> DbResult<()> {
        // A read first, so that an existing database is not write-locked just to open it.
        let ready: DbResult<Option<i64>> = self
            .conn
            .query_row("SELECT value FROM scout_generation WHERE singleton = 1", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(Into::into);
        // A database made before the relocation table gets it here.
        let relocations: DbResult<Option<i64>> = self
            .conn
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'scout_relocations'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(Into::into);
        if matches!(ready, Ok(Some(_))) && matches!(relocations, Ok(Some(_))) {
            return Ok(());
        }
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(SCHEMA)?;
        tx.execute_batch(RELOCATION_SCHEMA)?;
        tx.commit()?;
        Ok(())
    }

    fn now_ms(&mut self) -> DbResult<i64> {
        Ok(self.conn.query_row(&format!("SELECT {NOW}"), [], |r| r.get(0))?)
    }

    fn register(&mut self, m: &Member) -> DbResult<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            &format!(
                "INSERT INTO scout_servers (id, host, port, started_at, heartbeat_at)
                 VALUES (?1, ?2, ?3, ?4, {NOW})
                 ON CONFLICT (id) DO UPDATE SET host = excluded.host, port = excluded.port,
                     started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at"
            ),
            params![m.id, m.host, m.port, m.started_at],
        )?;
        Self::bump(&tx)?;
        tx.commit()?;
        Ok(())
    }

    fn heartbeat(&mut self, id: &str) -> DbResult<bool> {
        let n = self.conn.execute(
            &format!("UPDATE scout_servers SET heartbeat_at = {NOW} WHERE id = ?1"),
            [id],
        )?;
        Ok(n > 0)
    }

    fn prune(&mut self, window_ms: i64) -> DbResult<u64> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            &format!("DELETE FROM scout_servers WHERE heartbeat_at <= {NOW} - ?1"),
            [window_ms],
        )?;
        if n > 0 {
            Self::bump(&tx)?;
        }
        tx.commit()?;
        Ok(n as u64)
    }

    fn deregister(&mut self, id: &str) -> DbResult<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if tx.execute("DELETE FROM scout_servers WHERE id = ?1", [id])? > 0 {
            Self::bump(&tx)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn read(&mut self) -> DbResult<Table> {
        let tx = self.conn.transaction()?;
        let (now_ms, generation) = tx.query_row(
            &format!("SELECT {NOW}, value FROM scout_generation WHERE singleton = 1"),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let rows = {
            let mut stmt = tx.prepare(
                "SELECT id, host, port, started_at, heartbeat_at FROM scout_servers
                 ORDER BY started_at, id",
            )?;
            stmt.query_map([], |r| {
                Ok(Row {
                    member: Member {
                        id: r.get(0)?,
                        host: r.get(1)?,
                        port: r.get(2)?,
                        started_at: r.get(3)?,
                    },
                    heartbeat_at: r.get(4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?
        };
        tx.commit()?;
        Ok(Table {
            now_ms,
            generation,
            rows,
        })
    }

    fn head(&mut self) -> DbResult<Head> {
        Ok(self.conn.query_row(
            &format!("SELECT {NOW}, value FROM scout_generation WHERE singleton = 1"),
            [],
            |r| {
                Ok(Head {
                    now_ms: r.get(0)?,
                    generation: r.get(1)?,
                })
            },
        )?)
    }

    fn reconnect_after_error(&self) -> bool {
        false
    }

    fn relocations(&mut self) -> DbResult<Vec<Relocation>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT device, target, mode FROM scout_relocations")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Relocation {
                    device: r.get(0)?,
                    target: r.get(1)?,
                    mode: r.get(2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn relocate(&mut self, rows: &[Relocation]) -> DbResult<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for row in rows {
            tx.execute(
                "INSERT INTO scout_relocations (device, target, mode) VALUES (?1, ?2, ?3)
                 ON CONFLICT (device) DO UPDATE SET target = excluded.target, mode = excluded.mode",
                params![row.device, row.target, row.mode],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn arrived(&mut self, devices: &[String], target: &str) -> DbResult<u64> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut n = 0;
        for device in devices {
            n += tx.execute(
                "DELETE FROM scout_relocations WHERE device = ?1 AND target = ?2",
                params![device, target],
            )?;
        }
        tx.commit()?;
        Ok(n as u64)
    }
}
