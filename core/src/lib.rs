//! scoutlb: which management server a device agent talks to.
//!
//! A fleet of devices is managed by a cluster of Scout Servers sharing one database. Every server
//! hands out the list of all running servers. A device tries its default server (the last one
//! that worked), then the next servers of the list (FailureLoadBalancing), optionally after a
//! preferred address evaluated afresh on every restart (ManagerLoadBalancing). The behaviour is
//! specified in `docs/behaviour.md`. The decisions are the pure crate `scoutlb-proto`, re-exported here;
//! this crate is the synchronous driver around them (threads, sockets, DNS, the state file), wrapped
//! by a C ABI and a Python module.
//!
//! ```no_run
//! let config = scoutlb::Config::from_json(r#"{"servers": ["10.0.0.11", "10.0.0.12"]}"#)?;
//! let client = scoutlb::Client::new(config)?;
//! let connected = client.connect()?;
//! println!("talking to {}", connected.server);
//! # Ok::<(), scoutlb::Error>(())
//! ```

mod attempt;
mod cancel;
mod client;
mod dhcp;
mod dns;
mod emit;
mod event_loop;
mod fork_lock;
mod https;
mod lookup;
mod probe;
mod scout_ini;
mod state;
mod tls;

pub use cancel::Canceller;
pub use client::{Client, ClientBuilder};
pub use dhcp::HOOK_FILE as DHCP_HOOK_FILE;
pub use dns::resolve_balancer;
pub use event_loop::{Interest, PendingCall, ProbeRequest, Watch};
pub use probe::{FnProbe, HttpProbe, Probe, Reached, SERVERS_PATH, TcpProbe, TransportUp};
pub use scoutlb_proto::{
    AddressError, Attempt, Call, Config, ConfigBuilder, Connect, Connected, DEFAULT_PORT, DEVICE_ID_HEADER,
    DHCP_LEASES_AUTO, Device, DnsFailure, DnsFailureKind, Draws, Effect, Error, ErrorKind, Evaluation, Event,
    EventSink, FIRST_CONTACT_HOST, FailReason, Finished, FirstContact, IniError, KEY_TABLE, KEYS, Key, ListError,
    MAX_BODY_BYTES, MAX_ENTRIES, MAX_HOST_LEN, MAX_WEIGHT, ManagerLoadBalancer, NESTED_KEYS, OrderMode, Outcome,
    Parsed, Plan, ProbeKind, REBALANCE_KEYS, RETRY_KEYS, Ranking, RebalancePolicy, Result, RetryPolicy, RetryProfile,
    SCOUT_CA_DIR, SCOUT_TLS_PORT, SEEDS_AFTER, STATE_FORMAT, Scheme, ScoutIni, Server, ServerEntry, ServerList,
    Setting, Severity, State, Stay, Step, TlsFailure, TlsFailureKind, TlsVerify, balancer, dhcp_lease, failover_order,
    is_unprintable, printable, race, rebalance, retry, spread_weight, steer,
};
pub use scoutlb_proto::{Proof, PublicKey, Signable, SigningKey, Trust, signed_list};
pub use state::{Loaded, MAX_STATE_BYTES, STATE_LOCK_WAIT, StateFile};

/// Internals that the fuzz targets (`fuzz/`) drive directly; not part of the API, may change.
#[doc(hidden)]
pub mod fuzzing {
    pub use scoutlb_proto::srv::{SrvRecord, rfc2782_order};

    /// What reading `buf` as the response to query `id` for the SRV records of `a.example.`
    /// gave: the answer records (as hickory prints them) and whether later sections were
    /// unreadable, or `Err(true)` for "not ours" and `Err(false)` for a failed lookup (records in
    /// their Debug form).
    pub fn dns_answer(buf: &[u8], id: u16) -> Result<(Vec<String>, bool), bool> {
        crate::dns::answer::fuzz_read(buf, id)
    }
}

/// The version of this library, as in `Cargo.toml`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
