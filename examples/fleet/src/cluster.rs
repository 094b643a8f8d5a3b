//! The cluster under test: k scout-server processes on one database, each behind a counting proxy.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use scoutlb_testkit::{PostgresServer, ScoutServerProcess};

use crate::limits;
use crate::proxy::{Proxies, Traffic};
use crate::tls::TlsFiles;

/// Upper bound of a server's start-up and stop.
const SERVER_DEADLINE: Duration = Duration::from_secs(20);

/// The database the servers share.
pub enum Database {
    /// A new SQLite file in this folder for every cluster.
    Sqlite(PathBuf),
    /// A PostgreSQL server given by URL, shared by every cluster of the run.
    Url(String),
    /// A throw-away PostgreSQL; a new database in it for every cluster.
    Throwaway(PostgresServer),
}

impl Database {
    /// The database of one cluster: a fresh one where this kind of database allows it.
    pub fn for_cluster(&self, n: u32) -> String {
        match self {
            Database::Sqlite(dir) => dir.join(format!("cluster-{n}.sqlite")).display().to_string(),
            Database::Url(url) => url.clone(),
            Database::Throwaway(pg) => pg.create_database(&format!("fleet{n}")),
        }
    }

    /// What the table calls this database.
    pub fn describe(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "SQLite",
            Database::Url(_) | Database::Throwaway(_) => "PostgreSQL",
        }
    }
}

/// How the servers are started.
#[derive(Clone, Debug)]
pub struct ServerSpec {
    /// The scout-server binary.
    pub bin: PathBuf,
    /// Number of servers.
    pub count: usize,
    /// Certificate and key when the cluster serves HTTPS.
    pub tls: Option<TlsFiles>,
    /// The list-signing key file and its public key, when the cluster signs its list.
    pub list_key: Option<(PathBuf, String)>,
    /// Each server gets an admin endpoint (`--admin`) on a free loopback port.
    pub admin: bool,
    /// Further arguments every server gets (`--drain-on-stop`, `--known-devices`, ...).
    pub extra: Vec<String>,
}

/// Finds the scout-server binary: the given path, else beside this program.
pub fn find_scout_server(given: Option<&Path>) -> Result<PathBuf, String> {
    let path = match given {
        Some(p) => p.to_owned(),
        None => std::env::current_exe()
            .map_err(|e| format!("cannot find this program's folder: {e}"))?
            .with_file_name("scout-server"),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found: build it with `cargo build --release -p scout-server` (or give --scout-server PATH)",
            path.display()
        ))
    }
}

/// Makes a list-signing key in `dir` with `scout-server keygen`: the file and its public key.
pub fn list_key(bin: &Path, dir: &Path) -> Result<(PathBuf, String), String> {
    let file = dir.join("list.key");
    let out = std::process::Command::new(bin)
        .arg("keygen")
        .arg(&file)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!(
            "scout-server keygen: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok((file, String::from_utf8_lossy(&out.stdout).trim().to_owned()))
}

/// What a server is doing now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Running and answering.
    Up,
    /// Killed with SIGKILL.
    Killed,
    /// Stopped with SIGSTOP: it accepts connections but never answers.
    Stopped,
    /// Stopped cleanly with SIGTERM: it left the list.
    Terminated,
}

/// A running cluster; its servers leave the database cleanly when it is shut down.
pub struct Cluster {
    servers: Vec<(ScoutServerProcess, Status)>,
    admins: Vec<Option<std::net::SocketAddr>>,
    proxies: Option<Proxies>,
}

impl Cluster {
    /// Starts `spec.count` servers on `db`, each behind a proxy whose address it advertises.
    pub fn start(spec: &ServerSpec, db: &str, t0: Instant) -> Result<Cluster, String> {
        let proxies = Proxies::bind(spec.count, t0).map_err(|e| format!("cannot start the proxies: {e}"))?;
        let mut servers = Vec::with_capacity(spec.count);
        let mut admins = Vec::with_capacity(spec.count);
        for i in 0..spec.count {
            let advertise = proxies.addr(i).to_string();
            let id = server_id(i);
            let admin = spec
                .admin
                .then(|| std::net::SocketAddr::from(([127, 0, 0, 1], scoutlb_testkit::free_port())));
            let admin_text = admin.map(|a| a.to_string());
            let mut args = vec!["--advertise", &advertise, "--id", &id];
            if let Some(a) = &admin_text {
                args.extend(["--admin", a]);
            }
            args.extend(spec.extra.iter().map(String::as_str));
            if let Some(tls) = &spec.tls {
                args.extend([
                    "--tls-cert",
                    tls.cert.to_str().ok_or("the certificate path is not UTF-8")?,
                    "--tls-key",
                    tls.key.to_str().ok_or("the key path is not UTF-8")?,
                ]);
            }
            if let Some((file, _)) = &spec.list_key {
                args.extend(["--list-key", file.to_str().ok_or("the key path is not UTF-8")?]);
            }
            let server = ScoutServerProcess::start(&spec.bin, db, &args, SERVER_DEADLINE);
            proxies.forward(i, server.addr);
            servers.push((server, Status::Up));
            admins.push(admin);
        }
        Ok(Cluster {
            servers,
            admins,
            proxies: Some(proxies),
        })
    }

    /// Number of servers.
    pub fn len(&self) -> usize {
        self.servers.len()
    }

    /// The addresses devices use, in server order (`host:port` of the proxies).
    pub fn addresses(&self) -> Vec<String> {
        (0..self.len()).map(|i| self.proxies().addr(i).to_string()).collect()
    }

    /// What the proxy of server `i` counted.
    pub fn traffic(&self, i: usize) -> &Traffic {
        self.proxies().traffic(i)
    }

    /// SIGKILL to server `i`: a crash; its port closes.
    pub fn kill(&mut self, i: usize) {
        self.proxies().close(i);
        self.servers[i].0.kill();
        self.servers[i].1 = Status::Killed;
    }

    /// SIGSTOP to server `i`: it hangs, its port still accepts connections.
    pub fn stop(&mut self, i: usize) -> Result<(), String> {
        let pid = self.servers[i].0.pid().ok_or("the server is not running")?;
        limits::signal(pid, libc::SIGSTOP).map_err(|e| format!("SIGSTOP to {pid}: {e}"))?;
        self.servers[i].1 = Status::Stopped;
        // The signal is delivered asynchronously: a busy server may answer a little longer.
        let deadline = Instant::now() + SERVER_DEADLINE;
        while !limits::is_stopped(pid) {
            if Instant::now() >= deadline {
                return Err(format!("server {} (pid {pid}) did not stop after SIGSTOP", name(i)));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    /// SIGTERM to server `i`: it leaves the list at once and exits; its port closes.
    pub fn terminate(&mut self, i: usize) {
        self.servers[i].0.terminate();
        self.proxies().close(i);
        self.servers[i].1 = Status::Terminated;
    }

    /// A request to the admin endpoint of server `i` (`POST` or `GET` of `/scout/v1/admin/<what>`):
    /// the status it answers.
    pub fn admin(&self, i: usize, method: &str, what: &str) -> Result<serde_json::Value, String> {
        let addr = self.admins[i].ok_or("the cluster was started without admin endpoints")?;
        let path = format!("/scout/v1/admin/{what}");
        let (status, _, body) = scoutlb_testkit::http_request(addr, method, &path)?;
        if status != 200 {
            return Err(format!("{method} {path} of server {}: {status} {body}", name(i)));
        }
        serde_json::from_str(&body)
            .map_err(|e| format!("{method} {path} of server {}: not JSON ({e}): {body}", name(i)))
    }

    /// The address of server `i`'s admin endpoint, when the cluster has them.
    pub fn admin_addr(&self, i: usize) -> Option<std::net::SocketAddr> {
        self.admins[i]
    }

    /// SIGTERM to server `i` without waiting: with `--drain-on-stop` it drains, then stops.
    pub fn signal_stop(&mut self, i: usize) -> Result<(), String> {
        let pid = self.servers[i].0.pid().ok_or("the server is not running")?;
        limits::signal(pid, libc::SIGTERM).map_err(|e| format!("SIGTERM to {pid}: {e}"))
    }

    /// Waits (at most `drain` plus the stop's bound) for server `i` to exit after
    /// [`Self::signal_stop`]; then its port closes.
    pub fn wait_stopped(&mut self, i: usize, drain: Duration) -> Result<(), String> {
        let status = self.servers[i].0.wait_exit(drain + SERVER_DEADLINE).ok_or_else(|| {
            format!(
                "server {} did not exit within {} of SIGTERM",
                name(i),
                humantime::format_duration(drain + SERVER_DEADLINE)
            )
        })?;
        self.proxies().close(i);
        self.servers[i].1 = Status::Terminated;
        if status.success() {
            Ok(())
        } else {
            Err(format!("server {} exited with {status} after SIGTERM", name(i)))
        }
    }

    /// Brings server `i` back on the same address (SIGCONT after a stop, a new process otherwise).
    pub fn bring_back(&mut self, i: usize) -> Result<(), String> {
        match self.servers[i].1 {
            Status::Up => {}
            Status::Stopped => {
                let pid = self.servers[i].0.pid().ok_or("the server is not running")?;
                limits::signal(pid, libc::SIGCONT).map_err(|e| format!("SIGCONT to {pid}: {e}"))?;
            }
            Status::Killed | Status::Terminated => {
                self.servers[i].0.restart();
                self.proxies()
                    .open(i)
                    .map_err(|e| format!("cannot open the proxy of {} again: {e}", name(i)))?;
            }
        }
        self.servers[i].1 = Status::Up;
        Ok(())
    }

    /// Brings every server that is down back at once (each restart waits for its server to be
    /// ready); the moments the first and the last of them were back.
    pub fn bring_all_back(&mut self) -> Result<(Instant, Instant), String> {
        let proxies = self.proxies.as_ref().expect("proxies run until shutdown");
        let back = std::thread::scope(|s| {
            let restarts: Vec<_> = self
                .servers
                .iter_mut()
                .enumerate()
                .filter(|(_, (_, status))| matches!(status, Status::Killed | Status::Terminated))
                .map(|(i, (server, status))| {
                    s.spawn(move || {
                        server.restart();
                        *status = Status::Up;
                        proxies
                            .open(i)
                            .map_err(|e| format!("cannot open the proxy of {} again: {e}", name(i)))?;
                        Ok(Instant::now())
                    })
                })
                .collect();
            restarts
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("a server did not come back".into())))
                .collect::<Result<Vec<Instant>, String>>()
        })?;
        for i in 0..self.len() {
            self.bring_back(i)?;
        }
        let now = Instant::now();
        let first = back.iter().min().copied().unwrap_or(now);
        Ok((first, back.iter().max().copied().unwrap_or(now)))
    }

    /// Brings every server back, then stops each cleanly so that the database keeps no row of this cluster.
    pub fn shutdown(mut self) {
        if self.bring_all_back().is_ok() {
            for (server, _) in &mut self.servers {
                server.terminate();
            }
        }
        if let Some(p) = self.proxies.take() {
            p.shutdown();
        }
    }

    fn proxies(&self) -> &Proxies {
        self.proxies.as_ref().expect("proxies run until shutdown")
    }
}

/// The `--id` of server `i`: `srv-a`, `srv-b`, ...
pub fn server_id(i: usize) -> String {
    format!("srv-{}", name(i).to_lowercase())
}

/// The name of server `i` in tables and pictures: A, B, C, ...
pub fn name(i: usize) -> String {
    char::from(b'A' + (i % 26) as u8).to_string()
}
