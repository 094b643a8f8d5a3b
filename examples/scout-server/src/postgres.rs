//! PostgreSQL backend: the sync `postgres` client without TLS.

use std::str::FromStr;
use std::time::Duration;

use postgres::{Client, Config, IsolationLevel, NoTls, Transaction};

use crate::db::{
    Backend, DbResult, Head, LOAD_COLUMNS, LOAD_SCHEMA, Member, RELOCATION_SCHEMA, Relocation, Row, SCHEMA, Table,
    Visit,
};

/// How long a connection attempt may take when the URL sets no `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The database clock in ms since the Unix epoch.
const NOW: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

/// Key of the advisory lock that serialises schema creation between servers starting together
/// ("scout" in ASCII; only its uniqueness matters).
const SCHEMA_LOCK: i64 = 0x73_636f_7574;

/// One connection to a PostgreSQL database.
pub struct Postgres {
    client: Client,
}

impl Postgres {
    /// Connects to `url` (`postgres://user[:password]@host[:port]/db`) without TLS.
    pub fn connect(url: &str) -> DbResult<Self> {
        let mut config = Config::from_str(url)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("scout-server");
        Ok(Postgres {
            client: config.connect(NoTls)?,
        })
    }

    /// Adds one to the generation counter (inside the caller's transaction).
    fn bump(tx: &mut Transaction<'_>) -> DbResult<()> {
        tx.execute("UPDATE scout_generation SET value = value + 1 WHERE singleton = 1", &[])?;
        Ok(())
    }
}

impl Backend for Postgres {
    fn setup(&mut self) -> DbResult<()> {
        let mut tx = self.client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
        tx.batch_execute(SCHEMA)?;
        tx.batch_execute(RELOCATION_SCHEMA)?;
        tx.batch_execute(LOAD_SCHEMA)?;
        // A table made before the loads gets their columns (looked up first: ALTER TABLE locks
        // the table even when the column is there).
        for (name, kind) in LOAD_COLUMNS {
            let there = tx.query_one(
                "SELECT COUNT(*) FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = 'scout_servers' AND column_name = $1",
                &[&name],
            )?;
            if there.get::<_, i64>(0) == 0 {
                tx.batch_execute(&format!(
                    "ALTER TABLE scout_servers ADD COLUMN IF NOT EXISTS {name} {kind}"
                ))?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn now_ms(&mut self) -> DbResult<i64> {
        Ok(self.client.query_one(&format!("SELECT {NOW}"), &[])?.get(0))
    }

    fn register(&mut self, m: &Member) -> DbResult<()> {
        let mut tx = self.client.transaction()?;
        tx.execute(
            &format!(
                "INSERT INTO scout_servers (id, host, port, started_at, heartbeat_at, weight, load_window_ms, draining)
                 VALUES ($1, $2, $3, $4, {NOW}, $5, $6, NULL)
                 ON CONFLICT (id) DO UPDATE SET host = excluded.host, port = excluded.port,
                     started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
                     weight = excluded.weight, load_window_ms = excluded.load_window_ms, draining = NULL"
            ),
            &[
                &m.id,
                &m.host,
                &i32::from(m.port),
                &m.started_at,
                &m.weight.map(|w| i32::try_from(w).unwrap_or(i32::MAX)),
                &m.load_window_ms,
            ],
        )?;
        Self::bump(&mut tx)?;
        tx.commit()?;
        Ok(())
    }

    fn heartbeat(&mut self, id: &str) -> DbResult<bool> {
        let n = self.client.execute(
            &format!("UPDATE scout_servers SET heartbeat_at = {NOW} WHERE id = $1"),
            &[&id],
        )?;
        Ok(n > 0)
    }

    fn prune(&mut self, window_ms: i64) -> DbResult<u64> {
        let mut tx = self.client.transaction()?;
        let n = tx.execute(
            &format!("DELETE FROM scout_servers WHERE heartbeat_at <= {NOW} - $1"),
            &[&window_ms],
        )?;
        if n > 0 {
            Self::bump(&mut tx)?;
        }
        tx.commit()?;
        Ok(n)
    }

    fn deregister(&mut self, id: &str) -> DbResult<()> {
        let mut tx = self.client.transaction()?;
        if tx.execute("DELETE FROM scout_servers WHERE id = $1", &[&id])? > 0 {
            Self::bump(&mut tx)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn read(&mut self) -> DbResult<Table> {
        let mut tx = self
            .client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let head = tx.query_one(
            &format!("SELECT {NOW}, value FROM scout_generation WHERE singleton = 1"),
            &[],
        )?;
        let rows = tx
            .query(
                "SELECT id, host, port, started_at, heartbeat_at, weight, load_window_ms FROM scout_servers
                 ORDER BY started_at, id",
                &[],
            )?
            .iter()
            .map(|r| {
                let port: i32 = r.get(2);
                let weight: Option<i32> = r.get(5);
                Ok(Row {
                    member: Member {
                        id: r.get(0),
                        host: r.get(1),
                        port: u16::try_from(port).map_err(|_| format!("bad port {port} in table"))?,
                        started_at: r.get(3),
                        weight: weight
                            .map(|w| u32::try_from(w).map_err(|_| format!("bad weight {w} in table")))
                            .transpose()?,
                        load_window_ms: r.get(6),
                    },
                    heartbeat_at: r.get(4),
                })
            })
            .collect::<DbResult<Vec<_>>>()?;
        tx.commit()?;
        Ok(Table {
            now_ms: head.get(0),
            generation: head.get(1),
            rows,
        })
    }

    fn head(&mut self) -> DbResult<Head> {
        let row = self.client.query_one(
            &format!("SELECT {NOW}, value FROM scout_generation WHERE singleton = 1"),
            &[],
        )?;
        Ok(Head {
            now_ms: row.get(0),
            generation: row.get(1),
        })
    }

    fn reconnect_after_error(&self) -> bool {
        // A restarted server leaves the client dead; a fresh connection costs little.
        true
    }

    fn relocations(&mut self) -> DbResult<Vec<Relocation>> {
        let rows = self
            .client
            .query("SELECT device, target, mode FROM scout_relocations", &[])?;
        Ok(rows
            .iter()
            .map(|r| Relocation {
                device: r.get(0),
                target: r.get(1),
                mode: r.get(2),
            })
            .collect())
    }

    fn relocate(&mut self, rows: &[Relocation]) -> DbResult<()> {
        let mut tx = self.client.transaction()?;
        for row in rows {
            tx.execute(
                "INSERT INTO scout_relocations (device, target, mode) VALUES ($1, $2, $3)
                 ON CONFLICT (device) DO UPDATE SET target = excluded.target, mode = excluded.mode",
                &[&row.device, &row.target, &row.mode],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn arrived(&mut self, devices: &[String], target: &str) -> DbResult<u64> {
        let mut tx = self.client.transaction()?;
        let mut n = 0;
        for device in devices {
            n += tx.execute(
                "DELETE FROM scout_relocations WHERE device = $1 AND target = $2",
                &[device, &target],
            )?;
        }
        tx.commit()?;
        Ok(n)
    }

    fn check_in(&mut self, server: &str, visits: &[Visit]) -> DbResult<()> {
        // One statement for the whole batch: a boot storm's thousands of rows in one round trip.
        let devices: Vec<&str> = visits.iter().map(|v| v.device.as_str()).collect();
        let times: Vec<i64> = visits.iter().map(|v| v.at_ms).collect();
        self.client.execute(
            "INSERT INTO scout_devices (device, server, at)
             SELECT device, $2, at FROM UNNEST($1::TEXT[], $3::BIGINT[]) AS v (device, at)
             ON CONFLICT (device) DO UPDATE SET server = excluded.server, at = excluded.at
             WHERE excluded.at >= scout_devices.at",
            &[&devices, &server, &times],
        )?;
        Ok(())
    }

    fn loads(&mut self, window_ms: i64) -> DbResult<Vec<(String, u64)>> {
        let rows = self.client.query(
            &format!("SELECT server, COUNT(*) FROM scout_devices WHERE at > {NOW} - $1 GROUP BY server"),
            &[&window_ms],
        )?;
        rows.iter()
            .map(|r| {
                let n: i64 = r.get(1);
                Ok((r.get(0), u64::try_from(n).map_err(|_| format!("a negative count {n}"))?))
            })
            .collect()
    }

    fn mark(&mut self, id: &str, draining: bool) -> DbResult<()> {
        self.client.execute(
            "UPDATE scout_servers SET draining = $1 WHERE id = $2",
            &[&i64::from(draining), &id],
        )?;
        Ok(())
    }

    fn marked(&mut self) -> DbResult<Vec<String>> {
        let rows = self
            .client
            .query("SELECT id FROM scout_servers WHERE draining = 1 ORDER BY id", &[])?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn forget_devices(&mut self, window_ms: i64) -> DbResult<u64> {
        Ok(self.client.execute(
            &format!("DELETE FROM scout_devices WHERE at <= {NOW} - $1"),
            &[&window_ms],
        )?)
    }
}
