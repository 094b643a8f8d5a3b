//! End-to-end test of `scout-server` processes sharing one PostgreSQL database, including a
//! PostgreSQL restart. The test runs its own throw-away PostgreSQL (Debian's `postgresql`
//! package); without its binaries it prints `SKIPPED: ...` and returns.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::{Server, wait_until};

/// A PostgreSQL instance in a temp dir, stopped (`-m immediate`) when dropped.
struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    /// Run the tools as the `postgres` user (PostgreSQL refuses to run as root).
    as_postgres: bool,
}

impl Postgres {
    /// Finds `initdb` and `pg_ctl`: `$SCOUT_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`.
    fn find_bin() -> Result<PathBuf, String> {
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

    /// Creates a cluster in `dir` with trust authentication and starts it on a free port.
    fn start_in(dir: &Path) -> Result<Postgres, String> {
        let bin = Self::find_bin()?;
        let as_postgres = output(Command::new("id").arg("-u"))?.trim() == "0";
        if as_postgres {
            output(Command::new("chown").args(["-R", "postgres:"]).arg(dir))
                .map_err(|e| format!("running as root needs a `postgres` user: {e}"))?;
        }
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let pg = Postgres {
            bin,
            dir: dir.to_owned(),
            port,
            as_postgres,
        };
        let data = pg.dir.join("data");
        output(
            pg.tool("initdb")
                .arg("-D")
                .arg(&data)
                .args(["-A", "trust", "-U", "postgres"])
                .arg("--no-sync"),
        )
        .map_err(|e| format!("initdb failed: {e}"))?;
        pg.start();
        Ok(pg)
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

    /// Starts the server and waits until it accepts connections.
    fn start(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories={} -c fsync=off",
            self.port,
            self.dir.display()
        );
        let result = output(
            self.tool("pg_ctl")
                .arg("-D")
                .arg(self.dir.join("data"))
                .arg("-l")
                .arg(self.dir.join("postgres.log"))
                .args(["-w", "-t", "30", "-o", &options, "start"]),
        );
        if let Err(e) = result {
            let log = std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default();
            panic!("pg_ctl start failed: {e}\n{log}");
        }
    }

    /// Stops the server with the given shutdown mode and waits until it is down.
    fn stop(&self, mode: &str) -> Result<String, String> {
        output(
            self.tool("pg_ctl")
                .arg("-D")
                .arg(self.dir.join("data"))
                .args(["-w", "-m", mode, "stop"]),
        )
    }

    /// The URL the scout servers are given.
    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.stop("immediate");
    }
}

/// Runs `cmd`; its stdout, or an error with its output.
fn output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd:?}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[test]
fn two_servers_share_postgres_and_survive_its_restart() {
    if let Err(why) = Postgres::find_bin() {
        eprintln!("SKIPPED: no PostgreSQL binaries: {why}");
        return;
    }
    // Under /tmp, not $TMPDIR: the `postgres` user must be able to reach it.
    let dir = tempfile::Builder::new().prefix("scout-pg").tempdir_in("/tmp").unwrap();
    let pg = Postgres::start_in(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let url = pg.url();
    let flags = |id: &'static str| ["--id", id, "--heartbeat-ms", "200", "--window-ms", "5000"];

    let mut a = Server::start(&url, &flags("pg-a"));
    let mut b = Server::start(&url, &flags("pg-b"));
    for server in [&a, &b] {
        let list = server.servers();
        assert_eq!(common::ids(&list), ["pg-a", "pg-b"]);
        assert_eq!(list["self"], server.id.as_str());
    }

    pg.stop("fast").unwrap();
    let down = Instant::now();
    while down.elapsed() < Duration::from_secs(2) {
        for server in [&mut a, &mut b] {
            assert!(server.is_running(), "{} died; log:\n{}", server.id, server.log());
            // The last list read is served while the database is away.
            assert_eq!(server.listed_ids(), ["pg-a", "pg-b"]);
        }
        thread::sleep(Duration::from_millis(200));
    }
    pg.start();

    for server in [&a, &b] {
        assert!(
            server.log().contains("heartbeat failed"),
            "outage not felt:\n{}",
            server.log()
        );
        wait_until("the heartbeat recovers", || server.log().contains("available again"));
    }
    // A newcomer shows up in both lists: they read the database again, not their cache.
    let mut c = Server::start(&url, &flags("pg-c"));
    for server in [&a, &b, &c] {
        wait_until("all three are listed", || {
            server.listed_ids() == ["pg-a", "pg-b", "pg-c"]
        });
    }
    assert!(c.terminate().success());
    assert_eq!(a.listed_ids(), ["pg-a", "pg-b"]);
    assert!(a.is_running() && b.is_running());
}
