//! scoutlb: which management server a device agent talks to.
//!
//! A fleet of devices is managed by a cluster of Scout Servers sharing one database. Every server
//! hands out the list of all running servers. A device tries its default server (the last one
//! that worked), then the next servers of the list (FailureLoadBalancing), optionally after a
//! preferred address evaluated afresh on every restart (ManagerLoadBalancing). The behaviour is
//! specified in `docs/behaviour.md`; this crate is its synchronous core, wrapped by a C ABI and a Python
//! module.
//!
//! ```no_run
//! let config = scoutlb::Config::from_json(r#"{"servers": ["10.0.0.11", "10.0.0.12"]}"#)?;
//! let client = scoutlb::Client::new(config)?;
//! let connected = client.connect()?;
//! println!("talking to {}", connected.server);
//! # Ok::<(), scoutlb::Error>(())
//! ```

mod attempt;
mod balancer;
mod client;
mod config;
mod dns;
mod error;
mod event;
mod order;
mod printable;
mod probe;
pub mod race;
mod server;
mod server_list;
mod state;
mod tls_failure;

pub use attempt::{Attempt, FailReason};
pub use balancer::ManagerLoadBalancer;
pub use client::{Client, ClientBuilder, Connected};
pub use config::{Config, ConfigBuilder, FIRST_CONTACT_HOST, KEYS, OrderMode, ProbeKind, RetryPolicy, Scheme};
pub use dns::{DnsFailure, DnsFailureKind, resolve_balancer};
pub use error::{Error, ErrorKind, Result};
pub use event::{Event, EventSink, Severity};
pub use order::{Ranking, SEEDS_AFTER, failover_order, spread_weight};
pub use printable::{is_unprintable, printable};
pub use probe::{HttpProbe, Probe, Reached, SERVERS_PATH, TcpProbe, TransportUp};
pub use server::{DEFAULT_PORT, MAX_HOST_LEN, Server};
pub use server_list::{MAX_BODY_BYTES, MAX_ENTRIES, ServerEntry, ServerList};
pub use state::{FORMAT as STATE_FORMAT, Loaded, MAX_STATE_BYTES, State, StateFile};
pub use tls_failure::{TlsFailure, TlsFailureKind};

/// Internals that the fuzz targets (`fuzz/`) drive directly; not part of the API, may change.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::dns::srv::{SrvRecord, rfc2782_order};
}

/// The version of this library, as in `Cargo.toml`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
