//! A throw-away PostgreSQL on loopback, in a temp dir of its own.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::{free_port, output};

/// A PostgreSQL instance in a temp dir, stopped (`-m immediate`) when dropped.
pub struct PostgresServer {
    bin: PathBuf,
    port: u16,
    /// Run the tools as the `postgres` user (PostgreSQL refuses to run as root).
    as_postgres: bool,
    // Dropped after `Drop::drop` has stopped the server.
    dir: TempDir,
}

impl PostgresServer {
    /// Finds `initdb` and `pg_ctl`: `$SCOUT_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`.
    pub fn find_bin() -> Result<PathBuf, String> {
        let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
        if let Some(dir) = std::env::var_os("SCOUT_PG_BIN") {
            let dir = PathBuf::from(dir);
            return if has_tools(&dir) {
                Ok(dir)
            } else {
                Err(format!("SCOUT_PG_BIN={} has no initdb and pg_ctl", dir.display()))
            };
        }
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .map_err(|e| format!("/usr/lib/postgresql: {e} (apt-get install postgresql)"))?
            .filter_map(Result::ok)
            .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
            .filter(|(_, bin)| has_tools(bin))
            .collect();
        versions.sort();
        versions
            .pop()
            .map(|(_, bin)| bin)
            .ok_or_else(|| "no initdb/pg_ctl under /usr/lib/postgresql/*/bin".to_owned())
    }

    /// Whether the PostgreSQL tools are installed; when not, reports the skip ([`crate::skip`]).
    #[track_caller]
    pub fn installed() -> bool {
        match Self::find_bin() {
            Ok(_) => true,
            Err(why) => {
                crate::skip(&format!("no PostgreSQL binaries: {why}"));
                false
            }
        }
    }

    /// Creates a cluster with trust authentication in a new temp dir and starts it on a free loopback port.
    pub fn start() -> Result<PostgresServer, String> {
        let bin = Self::find_bin()?;
        // Under /tmp, not $TMPDIR: the `postgres` user must be able to reach it.
        let dir = tempfile::Builder::new()
            .prefix("scoutlb-pg")
            .tempdir_in("/tmp")
            .map_err(|e| format!("temp dir under /tmp: {e}"))?;
        let as_postgres = output(Command::new("id").arg("-u"))?.trim() == "0";
        if as_postgres {
            output(Command::new("chown").args(["-R", "postgres:"]).arg(dir.path()))
                .map_err(|e| format!("running as root needs a `postgres` user: {e}"))?;
        }
        let pg = PostgresServer {
            bin,
            port: free_port(),
            as_postgres,
            dir,
        };
        output(
            pg.tool("initdb")
                .arg("-D")
                .arg(pg.data())
                .args(["-A", "trust", "-U", "postgres", "--no-sync"]),
        )
        .map_err(|e| format!("initdb failed: {e}"))?;
        pg.start_again()?;
        Ok(pg)
    }

    /// Starts the server (again, after [`PostgresServer::stop`]) and waits until it accepts connections.
    pub fn start_again(&self) -> Result<(), String> {
        let dir = self.dir.path();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories={} -c fsync=off",
            self.port,
            dir.display()
        );
        output(
            self.pg_ctl()
                .arg("-l")
                .arg(dir.join("postgres.log"))
                .args(["-w", "-t", "30", "-o", &options, "start"]),
        )
        .map(drop)
        .map_err(|e| {
            let log = std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
            format!("pg_ctl start failed: {e}\n{log}")
        })
    }

    /// Stops the server with the given shutdown mode (`fast`, `immediate`, ...) and waits until it is down.
    pub fn stop(&self, mode: &str) -> Result<String, String> {
        output(self.pg_ctl().args(["-w", "-m", mode, "stop"]))
    }

    /// The URL of the default `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Creates database `name` and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        let port = self.port.to_string();
        output(
            self.tool("createdb")
                .args(["-h", "127.0.0.1", "-p", &port, "-U", "postgres", name]),
        )
        .unwrap_or_else(|e| panic!("createdb {name}: {e}"));
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// The data folder of the cluster.
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A `pg_ctl -D <data>` command, as the right user.
    fn pg_ctl(&self) -> Command {
        let mut cmd = self.tool("pg_ctl");
        cmd.arg("-D").arg(self.data());
        cmd
    }

    /// A command running one of the PostgreSQL tools as the right user.
    fn tool(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(program);
            cmd
        } else {
            Command::new(program)
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let _ = self.stop("immediate");
    }
}
