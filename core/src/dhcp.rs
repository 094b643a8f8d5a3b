//! Reading DHCP option 222 from the lease files on this machine (behaviour.md, "First contact
//! from DHCP"); the formats themselves are parsed by `scoutlb_proto::dhcp_lease`.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use scoutlb_proto::dhcp_lease::{self, FirstContact, LeaseOption};
use scoutlb_proto::{Config, DHCP_LEASES_AUTO, Event};

/// The hook scripts' file, read first by `"auto"`.
pub const HOOK_FILE: &str = "/run/scoutlb/dhcp-option-222";

/// Folders `"auto"` looks in after the hook file, each with the file names it takes there.
const AUTO_FOLDERS: &[(&str, &[&str])] = &[
    ("/var/lib/dhcp", &["dhclient", ".lease"]),
    ("/var/lib/dhclient", &["", ".lease"]),
    ("/var/lib/dhcpcd", &["", ".lease"]),
    ("/var/lib/dhcpcd5", &["", ".lease"]),
    ("/var/db/dhcpcd", &["", ".lease"]),
    ("/var/lib/NetworkManager", &["", ".lease"]),
    ("/run/systemd/netif/leases", &["", ""]),
];

/// Largest lease file read; a larger one is reported and skipped.
const MAX_LEASE_BYTES: u64 = 1 << 20;

/// The option 222 found, with the lease it came from.
#[derive(Clone, Debug)]
pub(crate) struct Found {
    pub lease: PathBuf,
    pub contact: FirstContact,
}

/// The lease files `config.dhcp_leases` names, `"auto"` expanded, in the order they are read.
pub(crate) fn lease_paths(config: &Config) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for entry in &config.dhcp_leases {
        if entry.as_os_str() == DHCP_LEASES_AUTO {
            out.push(PathBuf::from(HOOK_FILE));
            for (folder, pattern) in AUTO_FOLDERS {
                out.extend(newest_first(Path::new(folder), pattern[0], pattern[1]));
            }
        } else {
            out.push(entry.clone());
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.clone()));
    out
}

fn newest_first(folder: &Path, prefix: &str, suffix: &str) -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut files: Vec<(SystemTime, PathBuf)> = dir
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(prefix) && name.ends_with(suffix) && !name.starts_with('.')
        })
        .filter_map(|e| {
            let meta = e.metadata().ok().filter(|m| m.is_file())?;
            Some((meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), e.path()))
        })
        .collect();
    files.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    files.into_iter().map(|(_, p)| p).collect()
}

/// Read the leases in order until one carries option 222; every problem, and the fallback to
/// `ScoutSrv`, is reported through `emit`.
pub(crate) fn first_contact(config: &Config, mut emit: impl FnMut(Event)) -> Option<Found> {
    if config.dhcp_leases.is_empty() || !config.servers.is_empty() {
        return None;
    }
    let explicit = |p: &Path| config.dhcp_leases.iter().any(|e| e == p);
    let mut read = Vec::new();
    for path in lease_paths(config) {
        let problem = |message: String| Event::DhcpLeaseProblem {
            lease: path.clone(),
            message,
        };
        let bytes = match read_bounded(&path) {
            Ok(b) => b,
            // A missing file among the standard locations is normal; one the agent named is not.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit(&path) => continue,
            Err(e) => {
                emit(problem(format!("cannot read it: {e}; it is skipped")));
                read.push(format!("{} (unreadable)", path.display()));
                continue;
            }
        };
        match dhcp_lease::read_lease(&bytes, config.default_port) {
            Ok(LeaseOption::Found(contact)) => {
                for (entry, why) in &contact.skipped {
                    emit(problem(format!("option 222 entry `{entry}` skipped: {why}")));
                }
                emit(Event::DhcpFirstContact {
                    lease: path.clone(),
                    servers: contact.servers.clone(),
                    ou: contact.ou.clone(),
                });
                return Some(Found { lease: path, contact });
            }
            Ok(LeaseOption::Absent) => read.push(format!("{} (no option 222)", path.display())),
            Ok(LeaseOption::Unsupported(format)) => {
                if explicit(&path) {
                    emit(problem(format!(
                        "a {} cannot carry option 222 (systemd-networkd keeps only the codes 224-254): use \
                         dhclient or dhcpcd with the scoutlb hook",
                        format.name()
                    )));
                }
                read.push(format!("{} (cannot carry option 222)", path.display()));
            }
            Err(e) => {
                emit(problem(format!("{e}; it is skipped")));
                read.push(format!("{} (unreadable)", path.display()));
            }
        }
    }
    let reason = if read.is_empty() {
        "no lease file found".to_string()
    } else {
        format!("read {}", read.join(", "))
    };
    emit(Event::DhcpFallback { reason });
    None
}

fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut bytes = Vec::new();
    file.take(MAX_LEASE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_LEASE_BYTES {
        return Err(std::io::Error::other("larger than 1 MiB, not a lease file"));
    }
    Ok(bytes)
}
