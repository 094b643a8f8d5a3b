//! SQLite backend: one file shared by several processes, WAL mode, a busy timeout.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::db::{
    Backend, DbResult, Head, LOAD_COLUMNS, LOAD_SCHEMA, Member, RELOCATION_SCHEMA, Relocation, Row, SCHEMA, Table,
    Visit,
};

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

    /// Whether every table and column of this version is there (a database made by an older
    /// version, or a new one, lacks some).
    fn complete(conn: &Connection) -> DbResult<bool> {
        let tables: i64 = conn.query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'
             AND name IN ('scout_generation', 'scout_relocations', 'scout_devices')",
            [],
            |r| r.get(0),
        )?;
        if tables < 3 {
            return Ok(false);
        }
        let ready: Option<i64> = conn
            .query_row("SELECT value FROM scout_generation WHERE singleton = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(ready.is_some() && Self::missing_columns(conn)?.is_empty())
    }

    /// The columns of [`LOAD_COLUMNS`] that `scout_servers` lacks.
    fn missing_columns(conn: &Connection) -> DbResult<Vec<(&'static str, &'static str)>> {
        let mut missing = Vec::new();
        for (name, kind) in LOAD_COLUMNS {
            let n: i64 = conn.query_row(
                "SELECT COUNT(*) FROM pragma_table_info('scout_servers') WHERE name = ?1",
                [name],
                |r| r.get(0),
            )?;
            if n == 0 {
                missing.push((name, kind));
            }
        }
        Ok(missing)
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
        if matches!(Self::complete(&self.conn), Ok(true)) {
            return Ok(());
        }
        // A database made before the relocation or the check-in table gets them here.
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(SCHEMA)?;
        tx.execute_batch(RELOCATION_SCHEMA)?;
        tx.execute_batch(LOAD_SCHEMA)?;
        for (name, kind) in Self::missing_columns(&tx)? {
            tx.execute_batch(&format!("ALTER TABLE scout_servers ADD COLUMN {name} {kind}"))?;
        }
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
                "INSERT INTO scout_servers (id, host, port, started_at, heartbeat_at, weight, load_window_ms, draining)
                 VALUES (?1, ?2, ?3, ?4, {NOW}, ?5, ?6, NULL)
                 ON CONFLICT (id) DO UPDATE SET host = excluded.host, port = excluded.port,
                     started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
                     weight = excluded.weight, load_window_ms = excluded.load_window_ms, draining = NULL"
            ),
            params![m.id, m.host, m.port, m.started_at, m.weight, m.load_window_ms],
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
                "SELECT id, host, port, started_at, heartbeat_at, weight, load_window_ms FROM scout_servers
                 ORDER BY started_at, id",
            )?;
            stmt.query_map([], |r| {
                Ok(Row {
                    member: Member {
                        id: r.get(0)?,
                        host: r.get(1)?,
                        port: r.get(2)?,
                        started_at: r.get(3)?,
                        weight: r.get(5)?,
                        load_window_ms: r.get(6)?,
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

    fn check_in(&mut self, server: &str, visits: &[Visit]) -> DbResult<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO scout_devices (device, server, at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (device) DO UPDATE SET server = excluded.server, at = excluded.at
                 WHERE excluded.at >= scout_devices.at",
            )?;
            for visit in visits {
                stmt.execute(params![visit.device, server, visit.at_ms])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn loads(&mut self, window_ms: i64) -> DbResult<Vec<(String, u64)>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT server, COUNT(*) FROM scout_devices WHERE at > {NOW} - ?1 GROUP BY server"
        ))?;
        let rows = stmt
            .query_map([window_ms], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(server, n)| Ok((server, u64::try_from(n).map_err(|_| format!("a negative count {n}"))?)))
            .collect()
    }

    fn mark(&mut self, id: &str, draining: bool) -> DbResult<()> {
        self.conn.execute(
            "UPDATE scout_servers SET draining = ?1 WHERE id = ?2",
            params![i64::from(draining), id],
        )?;
        Ok(())
    }

    fn marked(&mut self) -> DbResult<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM scout_servers WHERE draining = 1 ORDER BY id")?;
        let ids = stmt.query_map([], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
        Ok(ids)
    }

    fn forget_devices(&mut self, window_ms: i64) -> DbResult<u64> {
        let n = self.conn.execute(
            &format!("DELETE FROM scout_devices WHERE at <= {NOW} - ?1"),
            [window_ms],
        )?;
        Ok(n as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Database;

    #[test]
    fn a_database_made_before_the_loads_gets_their_table_and_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        let path = path.to_str().unwrap();
        {
            // The schema of the version before the loads, with a server registered.
            let old = Connection::open(path).unwrap();
            old.execute_batch(SCHEMA).unwrap();
            old.execute_batch(RELOCATION_SCHEMA).unwrap();
            old.execute(
                &format!(
                    "INSERT INTO scout_servers (id, host, port, started_at, heartbeat_at)
                     VALUES ('old', 'h', 1, 1, {NOW})"
                ),
                [],
            )
            .unwrap();
        }
        let mut db = Database::new(path);
        let snapshot = db.live(60_000).unwrap();
        assert_eq!(snapshot.servers.len(), 1);
        // The old server's row: no weight, and it does not count its devices.
        assert_eq!(
            (snapshot.servers[0].weight, snapshot.servers[0].load_window_ms),
            (None, None)
        );
        let me = Member {
            id: "new".into(),
            host: "h".into(),
            port: 2,
            started_at: 0,
            weight: Some(7),
            load_window_ms: Some(600_000),
        };
        db.register_new(me).unwrap();
        let snapshot = db.live(60_000).unwrap();
        assert_eq!(snapshot.servers[1].weight, Some(7));
        let at_ms = db.now_ms().unwrap();
        db.check_in(
            "new",
            &[Visit {
                device: "d".into(),
                at_ms,
            }],
        )
        .unwrap();
        assert_eq!(db.loads(600_000).unwrap(), [("new".to_owned(), 1)]);
        // Opening it again finds everything there.
        let mut again = Sqlite::open(path).unwrap();
        assert!(Sqlite::complete(&again.conn).unwrap());
        again.setup().unwrap();
    }
}
