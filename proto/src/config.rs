//! Configuration (behaviour.md, "Configuration keys"): JSON text or a builder, every key with its default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::balancer::ManagerLoadBalancer;
use crate::error::{Error, Result};
use crate::list_key::PublicKey;
use crate::race::Timing;
use crate::server::{DEFAULT_PORT, Server};

/// How a candidate is checked for life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProbeKind {
    /// `GET /scout/v1/servers` answers 200 with a valid list. The default.
    Http,
    /// A TCP connection is accepted.
    Tcp,
    /// The agent's own callback says yes or no.
    Callback,
    /// No probe: the agent tries candidates itself and reports outcomes.
    None,
}

/// URL scheme of the http probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scheme {
    /// Plain HTTP. The default.
    Http,
    /// HTTPS with certificate verification.
    Https,
}

impl Scheme {
    /// The scheme as written in a URL and in the configuration: `http` or `https`.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// What the https probe checks of a server's certificate (behaviour.md, "TLS").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsVerify {
    /// The chain, the dates and the candidate's name (Scout's TlsVerifyOption 3). The default.
    Full,
    /// The chain and the dates, any name (Scout's TlsVerifyOption 1).
    Chain,
    /// Nothing (Scout's TlsVerifyOption 0): reported in every connect's events.
    None,
}

impl TlsVerify {
    /// The level as written in the configuration: `full`, `chain` or `none`.
    pub fn name(self) -> &'static str {
        match self {
            TlsVerify::Full => "full",
            TlsVerify::Chain => "chain",
            TlsVerify::None => "none",
        }
    }

    /// The level of a Scout `TlsVerifyOption` value: 0, 1 or 3.
    pub fn from_scout(option: &str) -> Option<Self> {
        match option {
            "0" => Some(TlsVerify::None),
            "1" => Some(TlsVerify::Chain),
            "3" => Some(TlsVerify::Full),
            _ => None,
        }
    }
}

/// How the servers after the default are ranked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OrderMode {
    /// Server list order, wrapping around: the seed's behaviour. The default.
    List,
    /// Rendezvous-hash ranking on `device_id`, so a dead server's devices spread evenly.
    Spread,
}

/// Which schedule the retrying connect follows (behaviour.md, "All fail").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryProfile {
    /// Exponential backoff with full jitter (`base`, `factor`, `cap`, `max_tries`). The default.
    Backoff,
    /// Scout's `[ScoutHandshake]` schedule (`timer`, `max_retries`, `permanent_after_days`).
    Handshake,
}

impl RetryProfile {
    /// The profile as written in the configuration: `backoff` or `handshake`.
    pub fn name(self) -> &'static str {
        match self {
            RetryProfile::Backoff => "backoff",
            RetryProfile::Handshake => "handshake",
        }
    }
}

/// Schedule of the retrying connect (`scoutlb::Client::connect_with_retry`; behaviour.md, "All fail").
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Which schedule applies. Defaults to [`RetryProfile::Backoff`].
    pub profile: RetryProfile,
    /// Backoff: first backoff ceiling. Defaults to 1 second.
    pub base: Duration,
    /// Backoff: growth of the ceiling per try. Defaults to 2.0.
    pub factor: f64,
    /// Backoff: largest ceiling. Defaults to 60 seconds.
    pub cap: Duration,
    /// Backoff: most tries in all, 0 = no limit. Defaults to 0.
    pub max_tries: u32,
    /// Handshake: the first interval (Scout's `RetryTimer`), doubled after each try. Defaults to 5 seconds.
    pub timer: Duration,
    /// Handshake: most retries after the first try, 0 = none (Scout's `MaxRetries`). Defaults to 8.
    pub max_retries: u32,
    /// Handshake: days of failing after which `max_retries` no longer limits, 0 = never (Scout's
    /// `PermanentRetriesAfterDays`). Defaults to 0.
    pub permanent_after_days: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            profile: RetryProfile::Backoff,
            base: Duration::from_secs(1),
            factor: 2.0,
            cap: Duration::from_secs(60),
            max_tries: 0,
            timer: Duration::from_secs(5),
            max_retries: 8,
            permanent_after_days: 0,
        }
    }
}

/// Configuration of the rebalance (behaviour.md, "Configuration keys", `rebalance`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RebalancePolicy {
    /// Whether a device moves to a lighter server at all. Defaults to false: Scout keeps a device
    /// where it is.
    pub enabled: bool,
    /// The shortest window in which a planned move happens. Defaults to 120 seconds (Consul's
    /// `clientRPCMinReuseDuration`).
    pub window: Duration,
    /// The most moves a server should receive per second, cluster-wide. Defaults to 64 (Consul's
    /// `newRebalanceConnsPerSecPerServer`).
    pub rate: u32,
}

impl Default for RebalancePolicy {
    fn default() -> Self {
        RebalancePolicy {
            enabled: false,
            window: Duration::from_secs(120),
            rate: 64,
        }
    }
}

/// The configuration of a client; see behaviour.md, "Configuration keys" for the JSON keys of the same names.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// Seed servers. Defaults to none, which means the host `ScoutSrv`.
    pub servers: Vec<Server>,
    /// Preferred manager address, tried first on every restart. Defaults to none.
    pub manager_load_balancer: Option<ManagerLoadBalancer>,
    /// Path of the state file. Defaults to none: state kept in memory only.
    pub state_file: Option<PathBuf>,
    /// Port used where an address names none. Defaults to 22123.
    pub default_port: u16,
    /// How candidates are probed. Defaults to [`ProbeKind::Http`].
    pub probe: ProbeKind,
    /// Scheme of the http probe. Defaults to [`Scheme::Http`].
    pub scheme: Scheme,
    /// PEM bundle of trusted CAs for https. Defaults to none: the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Folder of trusted CA certificates for https (behaviour.md, "TLS"). Defaults to none.
    pub ca_dir: Option<PathBuf>,
    /// What https checks of a certificate. Defaults to [`TlsVerify::Full`].
    pub tls_verify: TlsVerify,
    /// Time limit of one attempt. Defaults to 3 seconds.
    pub connect_timeout: Duration,
    /// Patience of an attempt still connecting: after it the next candidate starts beside it;
    /// zero = until the attempt ends. Defaults to 250 ms.
    pub attempt_delay: Duration,
    /// Patience of an attempt whose transport is up (TCP connected, TLS done) while it waits for
    /// the answer; zero = until the attempt ends. Defaults to 1 second.
    pub answer_delay: Duration,
    /// Limit of one whole connect call. Defaults to 30 seconds.
    pub deadline: Duration,
    /// Limit of one DNS lookup. Defaults to 2 seconds.
    pub dns_timeout: Duration,
    /// DNS servers replacing the system's. Defaults to none: `/etc/resolv.conf`.
    pub nameservers: Vec<SocketAddr>,
    /// Search domains replacing the system's. Defaults to none: the system's.
    pub search_domains: Vec<String>,
    /// Backoff of the retrying connect. Defaults to [`RetryPolicy::default`].
    pub retry: RetryPolicy,
    /// Ranking after the default server. Defaults to [`OrderMode::List`].
    pub failover_order: OrderMode,
    /// Stable id of this device, required by [`OrderMode::Spread`]. Defaults to none.
    pub device_id: Option<String>,
    /// Keys that sign the server list; empty = lists are not signed (behaviour.md, "Signed lists").
    pub list_keys: Vec<PublicKey>,
    /// Lease files read for DHCP option 222 when no seed is configured; `auto` = the standard
    /// locations (behaviour.md, "First contact from DHCP"). Defaults to none: `ScoutSrv` only.
    pub dhcp_leases: Vec<PathBuf>,
    /// Scout-style INI files read when the client is created (behaviour.md, "Scout INI files").
    /// Defaults to none.
    pub scout_ini: Vec<PathBuf>,
    /// The opt-in rebalance (behaviour.md, "Rebalance"). Defaults to [`RebalancePolicy::default`] (off).
    pub rebalance: RebalancePolicy,
}

/// The `dhcp_leases` entry that stands for the standard lease locations.
pub const DHCP_LEASES_AUTO: &str = "auto";

/// Port of a Scout Server's TLS service (behaviour.md, "TLS").
pub const SCOUT_TLS_PORT: u16 = 22125;

/// Folder where Scout devices keep the CA certificates of their servers (behaviour.md, "TLS").
pub const SCOUT_CA_DIR: &str = "/setup/cacerts/scoutsrv";

/// Host name tried when no seed server is configured, as Scout devices do on first contact.
pub const FIRST_CONTACT_HOST: &str = "ScoutSrv";

impl Default for Config {
    fn default() -> Self {
        Config {
            servers: Vec::new(),
            manager_load_balancer: None,
            state_file: None,
            default_port: DEFAULT_PORT,
            probe: ProbeKind::Http,
            scheme: Scheme::Http,
            ca_file: None,
            ca_dir: None,
            tls_verify: TlsVerify::Full,
            connect_timeout: Duration::from_millis(3000),
            attempt_delay: Duration::from_millis(250),
            answer_delay: Duration::from_millis(1000),
            deadline: Duration::from_millis(30000),
            dns_timeout: Duration::from_millis(2000),
            nameservers: Vec::new(),
            search_domains: Vec::new(),
            retry: RetryPolicy::default(),
            failover_order: OrderMode::List,
            device_id: None,
            list_keys: Vec::new(),
            dhcp_leases: Vec::new(),
            scout_ini: Vec::new(),
            rebalance: RebalancePolicy::default(),
        }
    }
}

impl Config {
    /// Start a builder from the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder {
            config: Config::default(),
            error: None,
        }
    }

    /// Parse the JSON configuration text (behaviour.md); unknown keys and wrong types are errors naming the key.
    pub fn from_json(text: &str) -> Result<Self> {
        // from_slice like the server list and the state file: one copy of serde_json's parser in the binaries.
        let value: Value = serde_json::from_slice(text.as_bytes()).map_err(|e| Error::ConfigJson(e.to_string()))?;
        let obj = value
            .as_object()
            .ok_or_else(|| Error::ConfigJson("the configuration must be a JSON object".into()))?;
        Self::from_map(obj)
    }

    /// Build from an already parsed JSON object.
    pub fn from_map(obj: &Map<String, Value>) -> Result<Self> {
        let c = Self::parse_keys(obj)?;
        c.validate()?;
        Ok(c)
    }

    /// Parse each key of a JSON object (unknown keys and wrong values are errors naming the key),
    /// without the rules that span several keys: call [`Config::validate`] before use.
    ///
    /// For bindings that set keys one at a time (the C setters), so that the order of the calls
    /// does not matter.
    pub fn parse_keys(obj: &Map<String, Value>) -> Result<Self> {
        let mut c = Config::default();
        for key in obj.keys() {
            if !KEYS.contains(&key.as_str()) {
                return Err(Error::config(
                    key,
                    format!("unknown key; the known keys are {}", KEYS.join(", ")),
                ));
            }
        }
        // `default_port` first: the addresses of the other keys take it.
        let order = std::iter::once("default_port").chain(KEYS.iter().copied().filter(|k| *k != "default_port"));
        for name in order {
            if let Some(v) = obj.get(name).filter(|v| !v.is_null()) {
                let key = KEY_TABLE
                    .iter()
                    .find(|k| k.name == name)
                    .expect("KEYS are the names of KEY_TABLE");
                (key.apply)(&mut c, v)?;
            }
        }
        Ok(c)
    }

    /// Apply the settings of a Scout INI file over this configuration (behaviour.md, "Scout INI
    /// files"): each is read like its JSON key, and a refusal names the file, line, section and entry.
    pub fn apply_scout_ini(&mut self, ini: &crate::ScoutIni) -> Result<()> {
        for setting in &ini.settings {
            let applied = match setting.key.strip_prefix("retry.") {
                Some(field) => set_retry_field(&mut self.retry, field, &setting.value),
                None => {
                    let key = KEY_TABLE
                        .iter()
                        .find(|k| k.name == setting.key)
                        .expect("scout_ini maps onto names of KEY_TABLE");
                    (key.apply)(self, &setting.value)
                }
            };
            applied.map_err(|e| Error::config("scout_ini", format!("{}: {e}", setting.place)))?;
        }
        // behaviour.md, "Scout INI files": a Scout level that checks takes Scout's folder of roots
        // when the configuration names none.
        let checks = ini
            .settings
            .iter()
            .any(|s| s.key == "tls_verify" && s.value != TlsVerify::None.name());
        if checks && self.scheme == Scheme::Https && self.ca_file.is_none() && self.ca_dir.is_none() {
            self.ca_dir = Some(PathBuf::from(SCOUT_CA_DIR));
        }
        Ok(())
    }

    /// Check every value, and the rules that span several keys.
    ///
    /// The builder's values pass the same checks as the JSON keys of the same names: an empty
    /// `state_file` or `ca_file`, `default_port` 0 and a search domain that is no host name are
    /// refused whichever way they came.
    pub fn validate(&self) -> Result<()> {
        if self.dhcp_leases.iter().any(|p| p.as_os_str().is_empty()) {
            return Err(Error::config(
                "dhcp_leases",
                "expected a path or \"auto\", got an empty string",
            ));
        }
        for (key, path) in [
            ("state_file", &self.state_file),
            ("ca_file", &self.ca_file),
            ("ca_dir", &self.ca_dir),
        ] {
            if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                return Err(Error::config(key, "expected a path, got an empty string"));
            }
        }
        if self.default_port == 0 {
            return Err(Error::config("default_port", "expected a port 1-65535, got 0"));
        }
        for domain in &self.search_domains {
            match Server::new(domain, 1) {
                Ok(d) if d.host() == domain => {}
                Ok(_) => {
                    return Err(Error::config(
                        "search_domains",
                        format!("`{domain}` is not in canonical form"),
                    ));
                }
                Err(e) => return Err(Error::config("search_domains", e.to_string())),
            }
        }
        if self.failover_order == OrderMode::Spread && self.device_id.as_deref().is_none_or(str::is_empty) {
            return Err(Error::config(
                "device_id",
                "required when `failover_order` is \"spread\"",
            ));
        }
        if self.connect_timeout.is_zero() {
            return Err(Error::config("connect_timeout_ms", "must be at least 1"));
        }
        if self.deadline.is_zero() {
            return Err(Error::config("deadline_ms", "must be at least 1"));
        }
        if self.dns_timeout.is_zero() {
            return Err(Error::config("dns_timeout_ms", "must be at least 1"));
        }
        // behaviour.md, Configuration keys: a search domain is a DNS name, never an address.
        if let Some(ip) = self
            .search_domains
            .iter()
            .find(|d| d.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok())
        {
            return Err(Error::config(
                "search_domains",
                format!("`{ip}` is an IP address, not a DNS domain"),
            ));
        }
        if !(self.retry.factor.is_finite() && self.retry.factor >= 1.0) {
            return Err(Error::config("retry.factor", "must be a number of at least 1.0"));
        }
        if self.retry.cap < self.retry.base {
            return Err(Error::config("retry.cap_ms", "must not be smaller than retry.base_ms"));
        }
        Ok(())
    }
}

/// One configuration key (behaviour.md, "Configuration keys"): the one place that writes its
/// name, its default, what it means and how its JSON value is read. [`KEYS`], the JSON reader, the
/// C setters, the Python keywords and the man page all follow this table; a test holds
/// behaviour.md's table and [`Config::default`] to it.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Key {
    /// The key as written in the configuration.
    pub name: &'static str,
    /// Its default, as JSON text.
    pub default: &'static str,
    /// What it means, in a line.
    pub meaning: &'static str,
    apply: fn(&mut Config, &Value) -> Result<()>,
}

/// Every configuration key with its default, its meaning and its reader, in the documented order.
pub const KEY_TABLE: &[Key] = &[
    Key {
        name: "servers",
        default: "[]",
        meaning: "seed servers: \"host\", \"host:port\", \"[v6]:port\"; [] = ScoutSrv",
        apply: |c, v| {
            c.servers = string_list(v, "servers")?
                .iter()
                .map(|s| Server::parse(s, c.default_port).map_err(|e| Error::config("servers", e.to_string())))
                .collect::<Result<_>>()?;
            Ok(())
        },
    },
    Key {
        name: "manager_load_balancer",
        default: "null",
        meaning: "\"10.0.0.5\", \"lb.corp\", \"lb.corp:8443\", \"srv:_scout._tcp.corp\"",
        apply: |c, v| {
            let entry = as_str(v, "manager_load_balancer")?;
            c.manager_load_balancer = Some(ManagerLoadBalancer::parse(entry, c.default_port)?);
            Ok(())
        },
    },
    Key {
        name: "state_file",
        default: "null",
        meaning: "path of the state file; null = memory only",
        apply: |c, v| {
            c.state_file = Some(non_empty_path(v, "state_file")?);
            Ok(())
        },
    },
    Key {
        name: "default_port",
        default: "22123",
        meaning: "port of an address that names none",
        apply: |c, v| {
            c.default_port = as_port(v, "default_port")?;
            Ok(())
        },
    },
    Key {
        name: "probe",
        default: "\"http\"",
        meaning: "\"http\", \"tcp\", \"callback\" or \"none\"",
        apply: |c, v| {
            c.probe = match as_str(v, "probe")? {
                "http" => ProbeKind::Http,
                "tcp" => ProbeKind::Tcp,
                "callback" => ProbeKind::Callback,
                "none" => ProbeKind::None,
                other => return Err(one_of("probe", other, "\"http\", \"tcp\", \"callback\" or \"none\"")),
            };
            Ok(())
        },
    },
    Key {
        name: "scheme",
        default: "\"http\"",
        meaning: "\"http\" or \"https\" (http probe)",
        apply: |c, v| {
            c.scheme = match as_str(v, "scheme")? {
                "http" => Scheme::Http,
                "https" => Scheme::Https,
                other => return Err(one_of("scheme", other, "\"http\" or \"https\"")),
            };
            Ok(())
        },
    },
    Key {
        name: "ca_file",
        default: "null",
        meaning: "PEM bundle for https; null = the system's roots",
        apply: |c, v| {
            c.ca_file = Some(non_empty_path(v, "ca_file")?);
            Ok(())
        },
    },
    Key {
        name: "ca_dir",
        default: "null",
        meaning: "folder of CA certificates (*.pem, *.crt, *.cer) for https; null = none",
        apply: |c, v| {
            c.ca_dir = Some(non_empty_path(v, "ca_dir")?);
            Ok(())
        },
    },
    Key {
        name: "tls_verify",
        default: "\"full\"",
        meaning: "\"full\", \"chain\" or \"none\": what https checks of a certificate",
        apply: |c, v| {
            c.tls_verify = match as_str(v, "tls_verify")? {
                "full" => TlsVerify::Full,
                "chain" => TlsVerify::Chain,
                "none" => TlsVerify::None,
                other => return Err(one_of("tls_verify", other, "\"full\", \"chain\" or \"none\"")),
            };
            Ok(())
        },
    },
    Key {
        name: "connect_timeout_ms",
        default: "3000",
        meaning: "limit of one attempt (at least 1)",
        apply: |c, v| {
            c.connect_timeout = as_millis(v, "connect_timeout_ms")?;
            Ok(())
        },
    },
    Key {
        name: "attempt_delay_ms",
        default: "250",
        meaning: "patience of a connecting attempt; 0 = until it ends",
        apply: |c, v| {
            c.attempt_delay = as_millis(v, "attempt_delay_ms")?;
            Ok(())
        },
    },
    Key {
        name: "answer_delay_ms",
        default: "1000",
        meaning: "patience of an attempt whose transport is up; 0 = until it ends",
        apply: |c, v| {
            c.answer_delay = as_millis(v, "answer_delay_ms")?;
            Ok(())
        },
    },
    Key {
        name: "deadline_ms",
        default: "30000",
        meaning: "limit of one connect call (at least 1)",
        apply: |c, v| {
            c.deadline = as_millis(v, "deadline_ms")?;
            Ok(())
        },
    },
    Key {
        name: "dns_timeout_ms",
        default: "2000",
        meaning: "limit of one DNS lookup (at least 1)",
        apply: |c, v| {
            c.dns_timeout = as_millis(v, "dns_timeout_ms")?;
            Ok(())
        },
    },
    Key {
        name: "nameservers",
        default: "[]",
        meaning: "DNS servers (IP with optional port) replacing /etc/resolv.conf",
        apply: |c, v| {
            c.nameservers = string_list(v, "nameservers")?
                .iter()
                .map(|s| parse_nameserver(s))
                .collect::<Result<_>>()?;
            Ok(())
        },
    },
    Key {
        name: "search_domains",
        default: "[]",
        meaning: "search domains replacing the system's",
        apply: |c, v| {
            c.search_domains = string_list(v, "search_domains")?
                .iter()
                .map(|s| {
                    Server::new(s, 1)
                        .map(|d| d.host().to_string())
                        .map_err(|e| Error::config("search_domains", e.to_string()))
                })
                .collect::<Result<_>>()?;
            Ok(())
        },
    },
    Key {
        name: "retry",
        default: "{\"profile\": \"backoff\", \"base_ms\": 1000, \"factor\": 2.0, \"cap_ms\": 60000, \"max_tries\": 0, \"timer_ms\": 5000, \"max_retries\": 8, \"permanent_after_days\": 0}",
        meaning: "schedule of connect_with_retry: profile \"backoff\" (base_ms, factor >= 1, cap_ms >= base_ms, max_tries 0 = no limit) or \"handshake\" (timer_ms, max_retries 0 = no retry, permanent_after_days 0 = never)",
        apply: |c, v| {
            c.retry = parse_retry(v)?;
            Ok(())
        },
    },
    Key {
        name: "failover_order",
        default: "\"list\"",
        meaning: "\"list\" or \"spread\"",
        apply: |c, v| {
            c.failover_order = match as_str(v, "failover_order")? {
                "list" => OrderMode::List,
                "spread" => OrderMode::Spread,
                other => return Err(one_of("failover_order", other, "\"list\" or \"spread\"")),
            };
            Ok(())
        },
    },
    Key {
        name: "device_id",
        default: "null",
        meaning: "stable id of the device; required by \"spread\"",
        apply: |c, v| {
            c.device_id = Some(as_str(v, "device_id")?.to_string());
            Ok(())
        },
    },
    Key {
        name: "list_keys",
        default: "[]",
        meaning: "Ed25519 public keys (base64) that sign the server list; [] = lists are not signed",
        apply: |c, v| {
            c.list_keys = string_list(v, "list_keys")?
                .iter()
                .map(|k| PublicKey::from_base64(k).map_err(|m| Error::config("list_keys", m)))
                .collect::<Result<_>>()?;
            Ok(())
        },
    },
    Key {
        name: "dhcp_leases",
        default: "[]",
        meaning: "lease files read for DHCP option 222 before ScoutSrv; \"auto\" = the standard locations",
        apply: |c, v| {
            c.dhcp_leases = path_list(v, "dhcp_leases", "a path or \"auto\"")?;
            Ok(())
        },
    },
    // behaviour.md, "Scout INI files": the keys of a device set up the Scout way.
    Key {
        name: "scout_ini",
        default: "[]",
        meaning: "Scout-style INI files read when the client is created; their entries win over these keys",
        apply: |c, v| {
            c.scout_ini = path_list(v, "scout_ini", "a path")?;
            Ok(())
        },
    },
    // behaviour.md, "Rebalance": opt-in moves to a lighter server.
    Key {
        name: "rebalance",
        default: "{\"enabled\": false, \"window_ms\": 120000, \"rate\": 64}",
        meaning: "opt-in move to a lighter server: enabled, window_ms (shortest window of a move), rate (most moves per second into one server)",
        apply: |c, v| {
            let obj = v.as_object().ok_or_else(|| expected("rebalance", "an object", v))?;
            let mut r = RebalancePolicy::default();
            for (k, val) in obj {
                set_rebalance_field(&mut r, k, val)?;
            }
            c.rebalance = r;
            Ok(())
        },
    },
];

/// Every configuration key's name, in the order of [`KEY_TABLE`].
pub const KEYS: &[&str] = &key_names();

const fn key_names() -> [&'static str; KEY_TABLE.len()] {
    let mut names = [""; KEY_TABLE.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = KEY_TABLE[i].name;
        i += 1;
    }
    names
}

/// The keys inside `retry` (behaviour.md, "Configuration keys"), written `retry.base_ms` in errors.
pub const RETRY_KEYS: &[&str] = &[
    "profile",
    "base_ms",
    "factor",
    "cap_ms",
    "max_tries",
    "timer_ms",
    "max_retries",
    "permanent_after_days",
];

/// The keys inside `rebalance` (behaviour.md, "Configuration keys"), written `rebalance.rate` in errors.
pub const REBALANCE_KEYS: &[&str] = &["enabled", "window_ms", "rate"];

/// The keys with fields of their own, and those fields (written `retry.base_ms`).
pub const NESTED_KEYS: &[(&str, &[&str])] = &[("retry", RETRY_KEYS), ("rebalance", REBALANCE_KEYS)];

/// Set the field `name` of `rebalance` (one of [`REBALANCE_KEYS`]); errors name `rebalance.<name>`.
fn set_rebalance_field(r: &mut RebalancePolicy, name: &str, val: &Value) -> Result<()> {
    let key = format!("rebalance.{name}");
    match name {
        "enabled" => r.enabled = val.as_bool().ok_or_else(|| expected(&key, "true or false", val))?,
        "window_ms" => r.window = as_millis(val, &key)?,
        "rate" => {
            r.rate = u32::try_from(as_u64(val, &key)?)
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| Error::config(&key, "must be a whole number from 1 to 4294967295"))?
        }
        _ => {
            return Err(Error::config(
                &key,
                format!("unknown key; the known keys are {}", REBALANCE_KEYS.join(", ")),
            ));
        }
    }
    Ok(())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn expected(key: &str, what: &str, v: &Value) -> Error {
    Error::config(key, format!("expected {what}, got {}", type_name(v)))
}

fn one_of(key: &str, got: &str, allowed: &str) -> Error {
    Error::config(key, format!("expected {allowed}, got \"{got}\""))
}

fn as_str<'a>(v: &'a Value, key: &str) -> Result<&'a str> {
    v.as_str().ok_or_else(|| expected(key, "a string", v))
}

fn non_empty_path(v: &Value, key: &str) -> Result<PathBuf> {
    match as_str(v, key)? {
        "" => Err(Error::config(key, "expected a path, got an empty string")),
        s => Ok(PathBuf::from(s)),
    }
}

fn as_u64(v: &Value, key: &str) -> Result<u64> {
    v.as_u64().ok_or_else(|| expected(key, "a non-negative integer", v))
}

fn as_millis(v: &Value, key: &str) -> Result<Duration> {
    let ms = as_u64(v, key)?;
    if ms > 86_400_000 {
        return Err(Error::config(key, format!("{ms} ms is more than a day")));
    }
    Ok(Duration::from_millis(ms))
}

fn as_port(v: &Value, key: &str) -> Result<u16> {
    let n = as_u64(v, key)?;
    u16::try_from(n)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| Error::config(key, format!("expected a port 1-65535, got {n}")))
}

fn string_list(v: &Value, key: &str) -> Result<Vec<String>> {
    let arr = v.as_array().ok_or_else(|| expected(key, "an array of strings", v))?;
    arr.iter()
        .map(|item| {
            item.as_str()
                .map(str::to_string)
                .ok_or_else(|| expected(key, "an array of strings", item))
        })
        .collect()
}

/// A list of paths, none of them empty (`what` says what an entry must be).
fn path_list(v: &Value, key: &str, what: &str) -> Result<Vec<PathBuf>> {
    string_list(v, key)?
        .into_iter()
        .map(|s| match s.as_str() {
            "" => Err(Error::config(key, format!("expected {what}, got an empty string"))),
            _ => Ok(PathBuf::from(s)),
        })
        .collect()
}

fn parse_nameserver(s: &str) -> Result<SocketAddr> {
    let server = Server::parse(s, 53).map_err(|e| Error::config("nameservers", e.to_string()))?;
    let ip = server.ip().ok_or_else(|| {
        Error::config(
            "nameservers",
            format!("`{s}` is not an IP address (a name server must be an IP)"),
        )
    })?;
    Ok(SocketAddr::new(ip, server.port()))
}

fn parse_retry(v: &Value) -> Result<RetryPolicy> {
    let obj = v.as_object().ok_or_else(|| expected("retry", "an object", v))?;
    let mut r = RetryPolicy::default();
    for (k, val) in obj {
        set_retry_field(&mut r, k, val)?;
    }
    Ok(r)
}

/// Set the field `name` of `retry` (one of [`RETRY_KEYS`]) from its JSON value; errors name `retry.<name>`.
fn set_retry_field(r: &mut RetryPolicy, name: &str, val: &Value) -> Result<()> {
    let key = format!("retry.{name}");
    let count = |val: &Value| u32::try_from(as_u64(val, &key)?).map_err(|_| Error::config(&key, "too large"));
    match name {
        "profile" => {
            r.profile = match as_str(val, &key)? {
                "backoff" => RetryProfile::Backoff,
                "handshake" => RetryProfile::Handshake,
                other => return Err(one_of(&key, other, "\"backoff\" or \"handshake\"")),
            }
        }
        "base_ms" => r.base = as_millis(val, &key)?,
        "cap_ms" => r.cap = as_millis(val, &key)?,
        "factor" => r.factor = val.as_f64().ok_or_else(|| expected(&key, "a number", val))?,
        "max_tries" => r.max_tries = count(val)?,
        "timer_ms" => r.timer = as_millis(val, &key)?,
        "max_retries" => r.max_retries = count(val)?,
        "permanent_after_days" => r.permanent_after_days = count(val)?,
        _ => {
            return Err(Error::config(
                &key,
                format!("unknown key; the known keys are {}", RETRY_KEYS.join(", ")),
            ));
        }
    }
    Ok(())
}

impl Default for Timing {
    fn default() -> Self {
        Timing::of(&Config::default())
    }
}

impl Timing {
    /// The limits a configuration sets.
    pub fn of(config: &Config) -> Self {
        Timing {
            attempt_delay: config.attempt_delay,
            answer_delay: config.answer_delay,
            timeout: config.connect_timeout,
            deadline: config.deadline,
        }
    }
}

/// Builds a [`Config`] in Rust; errors surface at [`ConfigBuilder::build`].
#[derive(Debug)]
pub struct ConfigBuilder {
    config: Config,
    error: Option<Error>,
}

impl ConfigBuilder {
    fn record<T>(&mut self, r: Result<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.error.get_or_insert(e);
                None
            }
        }
    }

    /// Add a seed server, parsed like the `servers` key.
    pub fn server(mut self, address: &str) -> Self {
        let port = self.config.default_port;
        if let Some(s) = self.record(Server::parse(address, port).map_err(|e| Error::config("servers", e.to_string())))
        {
            self.config.servers.push(s);
        }
        self
    }

    /// Set the ManagerLoadBalancer entry.
    pub fn manager_load_balancer(mut self, entry: &str) -> Self {
        let port = self.config.default_port;
        self.config.manager_load_balancer = self.record(ManagerLoadBalancer::parse(entry, port));
        self
    }

    /// Set the state file path.
    pub fn state_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.state_file = Some(path.into());
        self
    }

    /// Set the default port (affects servers added after this call).
    pub fn default_port(mut self, port: u16) -> Self {
        self.config.default_port = port;
        self
    }

    /// Set the probe.
    pub fn probe(mut self, probe: ProbeKind) -> Self {
        self.config.probe = probe;
        self
    }

    /// Set the scheme of the http probe.
    pub fn scheme(mut self, scheme: Scheme) -> Self {
        self.config.scheme = scheme;
        self
    }

    /// Set the CA bundle for https.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.ca_file = Some(path.into());
        self
    }

    /// Set the folder of CA certificates for https.
    pub fn ca_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.ca_dir = Some(path.into());
        self
    }

    /// Set what https checks of a certificate.
    pub fn tls_verify(mut self, level: TlsVerify) -> Self {
        self.config.tls_verify = level;
        self
    }

    /// Set the time limit of one attempt.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.config.connect_timeout = d;
        self
    }

    /// Set the patience of a connecting attempt (zero = until it ends).
    pub fn attempt_delay(mut self, d: Duration) -> Self {
        self.config.attempt_delay = d;
        self
    }

    /// Set the patience of an attempt whose transport is up (zero = until it ends).
    pub fn answer_delay(mut self, d: Duration) -> Self {
        self.config.answer_delay = d;
        self
    }

    /// Set the limit of one connect call.
    pub fn deadline(mut self, d: Duration) -> Self {
        self.config.deadline = d;
        self
    }

    /// Set the limit of one DNS lookup.
    pub fn dns_timeout(mut self, d: Duration) -> Self {
        self.config.dns_timeout = d;
        self
    }

    /// Add a DNS server replacing the system's.
    pub fn nameserver(mut self, addr: SocketAddr) -> Self {
        self.config.nameservers.push(addr);
        self
    }

    /// Add a search domain replacing the system's.
    pub fn search_domain(mut self, domain: &str) -> Self {
        self.config.search_domains.push(domain.to_ascii_lowercase());
        self
    }

    /// Set the opt-in rebalance (behaviour.md, "Rebalance").
    pub fn rebalance(mut self, rebalance: RebalancePolicy) -> Self {
        self.config.rebalance = rebalance;
        self
    }

    /// Set the retry backoff.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.config.retry = retry;
        self
    }

    /// Set the failover order mode.
    pub fn failover_order(mut self, mode: OrderMode) -> Self {
        self.config.failover_order = mode;
        self
    }

    /// Add a Scout-style INI file, read when the client is created.
    pub fn scout_ini(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.scout_ini.push(path.into());
        self
    }

    /// Set the device id used by spread mode.
    pub fn device_id(mut self, id: &str) -> Self {
        self.config.device_id = Some(id.to_string());
        self
    }

    /// Trust a key that signs the server list (standard base64 of its 32 bytes).
    pub fn list_key(mut self, key: &str) -> Self {
        if let Some(k) = self.record(PublicKey::from_base64(key).map_err(|m| Error::config("list_keys", m))) {
            self.config.list_keys.push(k);
        }
        self
    }

    /// Add a lease file read for DHCP option 222 (`"auto"` = the standard locations).
    pub fn dhcp_lease(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.dhcp_leases.push(path.into());
        self
    }

    /// Finish: the first error met, or the validated configuration.
    pub fn build(self) -> Result<Config> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.config.validate()?;
        Ok(self.config)
    }
}
