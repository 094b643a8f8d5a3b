//! scoutlb-proto: the decisions of scoutlb, with no I/O.
//!
//! Everything that decides which management server a device talks to lives here, as pure data and
//! state machines in the manner of quinn-proto, rustls' `Connection` or h11: servers and the server
//! list with its wire form, the state file's contents, the configuration, the failover order, the
//! attempt race and the device around it. Nothing here opens a socket or a file, starts a thread
//! or reads a clock: the caller passes times in and carries actions out. The `scoutlb` crate is
//! the blocking driver (threads, sockets, DNS, the state file) around it and re-exports all of it.
//! The rules are those of `docs/behaviour.md`.

pub mod attempt;
pub mod balancer;
pub mod config;
pub mod connect;
pub mod connected;
pub mod device;
pub mod dhcp_lease;
pub mod dns_failure;
pub mod error;
pub mod event;
pub mod list_key;
pub mod order;
pub mod printable;
pub mod race;
pub mod rebalance;
pub mod retry;
pub mod scout_ini;
pub mod server;
pub mod server_list;
pub mod signed_list;
pub mod srv;
pub mod state;
pub mod steer;
pub mod tls_failure;

pub use attempt::{Attempt, FailReason, describe_failures};
pub use balancer::{Evaluation, ManagerLoadBalancer};
pub use config::{
    Config, ConfigBuilder, DHCP_LEASES_AUTO, FIRST_CONTACT_HOST, KEY_TABLE, KEYS, Key, NESTED_KEYS, OrderMode,
    ProbeKind, REBALANCE_KEYS, RETRY_KEYS, RetryPolicy, RetryProfile, SCOUT_CA_DIR, SCOUT_TLS_PORT, Scheme, TlsVerify,
};
pub use connect::{Connect, Outcome, Step};
pub use connected::Connected;
pub use device::{Call, Device, Effect, Finished};
pub use dhcp_lease::{FirstContact, LeaseError, LeaseFormat, LeaseOption, SCOUT_OPTION};
pub use dns_failure::{DnsFailure, DnsFailureKind};
pub use error::{Error, ErrorKind, Result};
pub use event::{Event, EventSink, Severity};
pub use order::{Ranking, SEEDS_AFTER, failover_order, spread_weight};
pub use printable::{is_unprintable, printable};
pub use rebalance::{Draws, Plan, RebalancePolicy, Stay};
pub use scout_ini::{IniError, Place, ScoutIni, Setting};
pub use server::{AddressError, DEFAULT_PORT, MAX_HOST_LEN, Server};
pub use server_list::{ListError, MAX_BODY_BYTES, MAX_ENTRIES, MAX_WEIGHT, ServerEntry, ServerList};
pub use signed_list::{Proof, PublicKey, Signable, SigningKey, Trust};
pub use state::{FORMAT as STATE_FORMAT, Parsed, State};
pub use steer::{DEVICE_ID_HEADER, drain_time, refusal_reason};
pub use tls_failure::{TlsFailure, TlsFailureKind};
