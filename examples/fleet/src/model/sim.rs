//! The discrete-event simulation: a simulated clock (a priority queue of events), the devices as
//! compact structs, the connect calls as `scoutlb::Connect`s driven as the core's driver drives
//! them, and the modelled servers.
//!
//! Nothing here reads a clock or starts a thread: the same seed gives the same events in the
//! same order (ties are broken by the order the events were scheduled in).
//!
//! A device between calls is 12 bytes ([`Dev`]): its default server, the server it is on, its
//! tries and where its outcome goes. A call builds the device's `scoutlb::Device` from that state
//! (the cluster's list and its default, as the state file of the socket runs holds them), asks it
//! for a `Connect`, and drops the device; when the call is decided the device is built again from
//! the same state (nothing changes it meanwhile) to apply the outcome with `Device::finish`. So a
//! device costs its 12 bytes, and a device in a call one `Connect` more.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, SystemTime};

use scoutlb::{Call, Config, Connect, Device, Draws, Error, FailReason, Server, ServerList, State, Step};

use crate::fleet::Backoff;
use crate::proxy::BUCKET;

/// `Dev::on` when the device is connected nowhere.
const NOWHERE: u8 = u8::MAX;

/// TCP's first SYN retransmission after a drop (Linux: an initial RTO of 1 s, doubling).
const SYN_RETRY: Duration = Duration::from_secs(1);

/// `Dev::call` when the device is in no call.
const NO_CALL: u32 = u32::MAX;

/// The device clock's moment at simulated time zero (for the expiry of signed lists; fixed, so
/// that no run reads the real clock).
const EPOCH_SECS: u64 = 1_700_000_000;

/// What the servers are like: the model's parameters.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    /// Requests one server answers per second; a request waits in its queue until its turn.
    /// A request whose attempt has given up is still answered (to a closed socket), as a real
    /// server does.
    pub capacity: f64,
    /// Median answer time of one request once it is served (log-normal).
    pub answer: Duration,
    /// Spread (sigma of the log) of the answer time.
    pub spread: f64,
    /// Time until an attempt's transport is up (TCP connected), or until it is refused.
    pub connect: Duration,
    /// Most requests waiting at one server (its listen backlog); a connection beyond is dropped.
    pub queue: usize,
    /// Calls per second the devices can begin together, `None` = no limit (real devices, each on
    /// its own CPU). The socket fleet's devices share one process on this machine: a device's
    /// thread gets to its call only when that process does (README, "Calibration").
    pub fleet_rate: Option<f64>,
}

/// How a modelled server is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Answers every request in its turn.
    Up,
    /// Killed (SIGKILL, or SIGTERM in a restart): every connection is refused at once, and the
    /// requests it had accepted fail when their answer was due.
    Killed,
    /// Hung (SIGSTOP): connections are accepted, nothing is answered; attempts time out.
    Stopped,
    /// Drained: connections are accepted and every request is answered at once with HTTP 503 and
    /// the default Retry-After (behaviour.md, "Servers that steer devices"), so that its devices go
    /// elsewhere for now; requests it had accepted before are still answered.
    Drained,
}

/// One modelled server.
#[derive(Clone, Debug)]
struct ModelServer {
    health: Health,
    /// Bumped on every change of health: answers of requests accepted before are judged by it.
    epoch: u32,
    /// When the server is free for the next request of its queue.
    free_at: Duration,
    /// Requests (connections) per [`BUCKET`], by the time they arrived.
    buckets: Vec<u32>,
}

/// What a device does when its moment comes (as `crate::fleet::Action`, on the simulated clock).
#[derive(Clone, Copy, Debug)]
pub enum Action {
    /// Power on: `connect()`.
    Boot,
    /// Its connection was lost: `reconnect()`.
    Reconnect,
    /// `connect_with_retry` (full jitter from `Device::backoff`) until `until`.
    RetryJitter {
        /// Give up at this moment.
        until: Duration,
    },
    /// `connect()` with the backoff's ceilings and no jitter, until `until` (the tool's herd loop).
    RetryHerd {
        /// The backoff, without jitter.
        backoff: Backoff,
        /// Give up at this moment.
        until: Duration,
    },
}

/// What came of one device's action, on the simulated clock.
#[derive(Clone, Copy, Debug)]
pub struct SimOutcome {
    /// Its moment.
    pub at: Duration,
    /// How long it took from its moment to connect or to give up; `None` while unfinished.
    pub took: Option<Duration>,
    /// The server it connected to; `None` when it failed (or has not finished).
    pub server: Option<u8>,
    /// The first server of its order that was up at its moment.
    pub expected: Option<u8>,
}

/// A device between calls.
#[derive(Clone, Copy, Debug)]
struct Dev {
    default: u8,
    on: u8,
    /// Tries of the current retrying action.
    tries: u16,
    /// Its outcome's index in `Sim::outcomes`.
    outcome: u32,
    /// Its call's slot, or [`NO_CALL`].
    call: u32,
}

/// A call in flight.
struct CallSlot {
    connect: Connect,
    device: u32,
    /// When the race began (its times count from here).
    start: Duration,
    /// The wake scheduled for it, if any.
    wake_at: Option<Duration>,
    /// Attempts: the race's id, the server's index, and when the attempt's time limit ends.
    attempts: Vec<(usize, u8, Duration)>,
}

#[derive(Clone, Copy, Debug)]
enum Ev {
    /// A device's moment (or its next try); `admitted` once the fleet rate let it begin.
    Act { device: u32, admitted: bool },
    /// Poll a call at its `next_wake`.
    Wake { call: u32, round: u32 },
    /// An attempt's transport is up.
    Up { call: u32, round: u32, id: u16 },
    /// An attempt ended: answered (`ok`) or failed with `reason`.
    Done {
        call: u32,
        round: u32,
        id: u16,
        server: u8,
        epoch: u32,
        reason: Answer,
    },
    /// A dropped connection's SYN is sent again (the `syns`-th time).
    Syn {
        call: u32,
        round: u32,
        id: u16,
        server: u8,
        syns: u8,
    },
    /// Server `server` becomes `health`.
    Health { server: u8, health: Health },
    /// Sample the devices per server.
    Sample,
}

/// How an answered request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Ok,
    Refused,
    Unavailable,
}

/// The simulation; see the module docs.
pub struct Sim {
    now: Duration,
    queue: BinaryHeap<Reverse<(Duration, u64, EvBox)>>,
    seq: u64,
    /// Events in the queue other than samples.
    pending: usize,
    rng: fastrand::Rng,
    params: Params,
    servers: Vec<ModelServer>,
    addresses: Vec<Server>,
    list: ServerList,
    config: Config,
    devices: Vec<Dev>,
    calls: Vec<Option<(CallSlot, u32)>>,
    rounds: Vec<u32>,
    free: Vec<u32>,
    placement: Vec<i64>,
    /// When the devices' shared process is free to begin the next call (with a fleet rate).
    fleet_free: Duration,
    action: Action,
    /// The outcomes of every action, in the order the devices acted.
    pub outcomes: Vec<SimOutcome>,
    /// The first failure's reason.
    pub first_failure: Option<String>,
    /// (seconds, devices per server) every [`BUCKET`].
    pub samples: Vec<(f64, Vec<i64>)>,
    /// Most calls in flight at once.
    pub peak_calls: usize,
    /// Events processed.
    pub events: u64,
}

/// An event with an order (the heap needs one; ties are broken by the sequence number first).
#[derive(Clone, Copy, Debug)]
struct EvBox(Ev);

impl PartialEq for EvBox {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for EvBox {}
impl PartialOrd for EvBox {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for EvBox {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

/// The port of modelled server `i` (its address is 127.0.0.1 on it; nothing listens there).
pub fn port_of(i: usize) -> u16 {
    20_001 + i as u16
}

impl Sim {
    /// A simulation of `n` devices, device i's default `default_of(i)` and connected to it when
    /// `connected`, against `k` servers; `config` is every device's configuration without its
    /// `device_id` (set per device by `device_id`).
    pub fn new(
        params: Params,
        config: Config,
        k: usize,
        n: usize,
        default_of: &dyn Fn(usize) -> usize,
        connected: bool,
        seed: u64,
    ) -> Result<Sim, String> {
        if n > u32::MAX as usize - 1 || k >= usize::from(NOWHERE) {
            return Err(format!(
                "the model holds at most {} devices and 254 servers",
                u32::MAX - 1
            ));
        }
        let addresses: Vec<Server> = config.servers.clone();
        if addresses.len() != k {
            return Err(format!("{} servers configured, {k} modelled", addresses.len()));
        }
        let list = ServerList::from_servers(addresses.clone()).map_err(|e| e.to_string())?;
        let mut placement = vec![0i64; k];
        let devices = (0..n)
            .map(|i| {
                let default = default_of(i) as u8;
                if connected {
                    placement[usize::from(default)] += 1;
                }
                Dev {
                    default,
                    on: if connected { default } else { NOWHERE },
                    tries: 0,
                    outcome: u32::MAX,
                    call: NO_CALL,
                }
            })
            .collect();
        let mut sim = Sim {
            now: Duration::ZERO,
            queue: BinaryHeap::new(),
            seq: 0,
            pending: 0,
            rng: fastrand::Rng::with_seed(seed),
            params,
            servers: vec![
                ModelServer {
                    health: Health::Up,
                    epoch: 0,
                    free_at: Duration::ZERO,
                    buckets: Vec::new(),
                };
                k
            ],
            addresses,
            list,
            config,
            devices,
            calls: Vec::new(),
            rounds: Vec::new(),
            free: Vec::new(),
            placement,
            fleet_free: Duration::ZERO,
            action: Action::Boot,
            outcomes: Vec::new(),
            first_failure: None,
            samples: Vec::new(),
            peak_calls: 0,
            events: 0,
        };
        sim.push(Duration::ZERO, Ev::Sample);
        Ok(sim)
    }

    /// The simulated time now.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// Number of devices.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// Devices per server now.
    pub fn placement(&self) -> &[i64] {
        &self.placement
    }

    /// The devices connected to server `i` now.
    pub fn on_server(&self, i: usize) -> Vec<usize> {
        (0..self.devices.len())
            .filter(|&d| usize::from(self.devices[d].on) == i)
            .collect()
    }

    /// Requests per [`BUCKET`] of server `i` from time zero.
    pub fn buckets(&self, i: usize) -> &[u32] {
        &self.servers[i].buckets
    }

    /// Server `i` becomes `health` now.
    pub fn set_health(&mut self, i: usize, health: Health) {
        let s = &mut self.servers[i];
        if s.health != health {
            s.health = health;
            s.epoch += 1;
            // A server that comes back starts with an empty queue.
            s.free_at = s.free_at.max(self.now);
        }
    }

    /// Server `i` becomes `health` at `at`.
    pub fn schedule_health(&mut self, at: Duration, i: usize, health: Health) {
        self.push(
            at,
            Ev::Health {
                server: i as u8,
                health,
            },
        );
    }

    /// Every device of `who` acts `offset` after now; the actions' outcomes are appended to
    /// [`Sim::outcomes`] from the returned index on.
    pub fn act(&mut self, who: &[(usize, Duration)], action: Action) -> usize {
        self.action = action;
        let first = self.outcomes.len();
        for &(d, offset) in who {
            let at = self.now + offset;
            self.devices[d].outcome = self.outcomes.len() as u32;
            self.devices[d].tries = 0;
            self.outcomes.push(SimOutcome {
                at,
                took: None,
                server: None,
                expected: None,
            });
            self.push(
                at,
                Ev::Act {
                    device: d as u32,
                    admitted: false,
                },
            );
        }
        first
    }

    /// Runs the events up to `until` (inclusive); the clock is then `until`.
    pub fn run_until(&mut self, until: Duration) {
        while let Some(Reverse((at, _, _))) = self.queue.peek() {
            if *at > until {
                break;
            }
            self.step();
        }
        self.now = self.now.max(until);
    }

    /// Runs until no device has anything left to do, or `limit` from now; whether it finished.
    pub fn run_idle(&mut self, limit: Duration) -> bool {
        let end = self.now + limit;
        while self.pending > 0 {
            match self.queue.peek() {
                Some(Reverse((at, _, _))) if *at <= end => self.step(),
                _ => {
                    self.now = end;
                    return false;
                }
            }
        }
        true
    }

    fn push(&mut self, at: Duration, ev: Ev) {
        if !matches!(ev, Ev::Sample) {
            self.pending += 1;
        }
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, EvBox(ev))));
    }

    fn step(&mut self) {
        let Some(Reverse((at, _, EvBox(ev)))) = self.queue.pop() else {
            return;
        };
        self.now = at;
        self.events += 1;
        if !matches!(ev, Ev::Sample) {
            self.pending -= 1;
        }
        match ev {
            Ev::Sample => {
                self.samples.push((at.as_secs_f64(), self.placement.clone()));
                self.push(at + BUCKET, Ev::Sample);
            }
            Ev::Health { server, health } => self.set_health(usize::from(server), health),
            Ev::Syn {
                call,
                round,
                id,
                server,
                syns,
            } => {
                let until = match self.calls[call as usize].as_ref() {
                    Some((slot, r)) if *r == round => {
                        slot.attempts.iter().find(|a| a.0 == usize::from(id)).map(|a| a.2)
                    }
                    _ => None,
                };
                if let Some(until) = until {
                    self.request(call, round, usize::from(id), server, until, syns);
                }
            }
            Ev::Act { device, admitted } => {
                if !admitted {
                    // It noticed at its moment: it leaves its server then, as on sockets.
                    self.leave(device);
                }
                match self.params.fleet_rate {
                    // The devices' shared process begins calls one after another at the fleet rate.
                    Some(rate) if !admitted => {
                        let out = self.fleet_free.max(at);
                        self.fleet_free = out + Duration::from_secs_f64(1.0 / rate);
                        self.push(out, Ev::Act { device, admitted: true });
                    }
                    _ => self.begin(device),
                }
            }
            Ev::Wake { call, round } => {
                if let Some((slot, g)) = self.calls[call as usize].as_mut()
                    && *g == round
                    && slot.wake_at == Some(at)
                {
                    slot.wake_at = None;
                    self.drive(call);
                }
            }
            Ev::Up { call, round, id } => {
                if let Some((slot, g)) = self.calls[call as usize].as_mut()
                    && *g == round
                {
                    let rel = at - slot.start;
                    slot.connect.transport_up(usize::from(id), rel);
                    self.drive(call);
                }
            }
            Ev::Done {
                call,
                round,
                id,
                server,
                epoch,
                reason,
            } => {
                let s = &self.servers[usize::from(server)];
                // Accepted before the server changed: a killed one reset the connection, a
                // stopped one never answers, a drained one still answers what it had.
                let reason = match (s.epoch == epoch, s.health) {
                    (true, _) | (false, Health::Up | Health::Drained) => Some(reason),
                    (false, Health::Killed) => Some(Answer::Refused),
                    (false, Health::Stopped) => None,
                };
                let Some(reason) = reason else { return };
                let list = &self.list;
                if let Some((slot, g)) = self.calls[call as usize].as_mut()
                    && *g == round
                {
                    let rel = at - slot.start;
                    let id = usize::from(id);
                    match reason {
                        Answer::Ok => slot.connect.succeeded(id, Some(list.clone()), rel),
                        Answer::Refused => slot.connect.failed(id, FailReason::Refused, rel),
                        Answer::Unavailable => {
                            slot.connect
                                .failed(id, FailReason::Draining(scoutlb::steer::DRAIN_DEFAULT), rel)
                        }
                    }
                    self.drive(call);
                }
            }
        }
    }

    /// Device `d` as its state says: the cluster's list, its default.
    fn device(&self, d: u32) -> Device {
        let mut config = self.config.clone();
        config.device_id = Some(crate::fleet::device_id(d as usize));
        let default = self.addresses[usize::from(self.devices[d as usize].default)].clone();
        let state = State {
            default_server: Some(default.clone()),
            list: Some(self.list.clone()),
            servers_from: Some(default),
            ..State::default()
        };
        Device::new(&config, state).expect("the configuration was validated when the model was made")
    }

    fn index_of(&self, server: &Server) -> Option<u8> {
        self.addresses.iter().position(|s| s == server).map(|i| i as u8)
    }

    fn system_time(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(EPOCH_SECS) + self.now
    }

    /// Device `d` leaves its server (it noticed the connection is gone).
    fn leave(&mut self, d: u32) {
        let on = self.devices[d as usize].on;
        if on != NOWHERE {
            self.placement[usize::from(on)] -= 1;
            self.devices[d as usize].on = NOWHERE;
        }
    }

    /// A device's moment or next try: it starts a call.
    fn begin(&mut self, d: u32) {
        let dev = self.devices[d as usize];
        let kind = match self.action {
            Action::Reconnect => Call::Reconnect,
            _ => Call::Startup,
        };
        let device = self.device(d);
        let outcome = dev.outcome as usize;
        if dev.tries == 0 {
            let order = match kind {
                Call::Reconnect => device.failover_order(),
                _ => device.candidates(),
            };
            self.outcomes[outcome].expected = order
                .iter()
                .filter_map(|s| self.index_of(s))
                .find(|&i| self.servers[usize::from(i)].health == Health::Up);
        }
        let connect = device.start(kind, self.system_time());
        let slot = CallSlot {
            connect,
            device: d,
            start: self.now,
            wake_at: None,
            attempts: Vec::new(),
        };
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.calls.push(None);
                self.rounds.push(0);
                (self.calls.len() - 1) as u32
            }
        };
        self.rounds[index as usize] += 1;
        self.calls[index as usize] = Some((slot, self.rounds[index as usize]));
        self.devices[d as usize].call = index;
        let in_flight = self.calls.len() - self.free.len();
        self.peak_calls = self.peak_calls.max(in_flight);
        self.drive(index);
    }

    /// Carries out the call's steps now, as the core's attempt loop does, then schedules its wake.
    fn drive(&mut self, call: u32) {
        let now = self.now;
        let Some((mut slot, round)) = self.calls[call as usize].take() else {
            return;
        };
        let rel = now - slot.start;
        let mut decided = false;
        while let Some(step) = slot.connect.poll(rel) {
            match step {
                Step::Start { id, server, timeout } => {
                    let index = self.index_of(&server);
                    match index {
                        Some(i) => {
                            slot.attempts.push((id, i, now + timeout));
                            self.request(call, round, id, i, now + timeout, 0);
                        }
                        None => slot.connect.failed(
                            id,
                            FailReason::Io {
                                kind: std::io::ErrorKind::NotFound,
                                message: format!("{server} is not a modelled server"),
                            },
                            rel,
                        ),
                    }
                }
                Step::Decided => {
                    decided = true;
                    break;
                }
                // Events are not reported, and the fleet configures no balancer to resolve.
                _ => {}
            }
        }
        if decided {
            self.free.push(call);
            self.finish(slot);
            return;
        }
        if let Some(wake) = slot.connect.next_wake() {
            // The race asks to be polled after now; never schedule into the past.
            let at = (slot.start + wake).max(now + Duration::from_nanos(1));
            if slot.wake_at != Some(at) {
                slot.wake_at = Some(at);
                self.push(at, Ev::Wake { call, round });
            }
        }
        self.calls[call as usize] = Some((slot, round));
    }

    /// Attempt `id` of a call reaches server `i` now, bounded by `timeout`.
    ///
    /// A connection a full backlog dropped is tried again as TCP does (`syns` sent so far): the
    /// SYN is sent again after 1 s, 2 s, 4 s, ... while the attempt's time limit (`until`) lasts.
    fn request(&mut self, call: u32, round: u32, id: usize, i: u8, until: Duration, syns: u8) {
        let now = self.now;
        let connect = self.params.connect;
        let answer = self.answer_time();
        let (capacity, queue) = (self.params.capacity, self.params.queue as f64);
        let s = &mut self.servers[usize::from(i)];
        let arrives = now + connect;
        // Requests waiting when this one arrives: the queue is served in order at `capacity`.
        let waiting = s.free_at.saturating_sub(arrives).as_secs_f64() * capacity;
        // What reached a server is counted (as the proxies count it): not what was refused, not
        // what a full backlog dropped.
        let reached = match s.health {
            Health::Killed => false,
            Health::Up => waiting < queue,
            Health::Stopped | Health::Drained => true,
        };
        if reached {
            let bucket = (now.as_nanos() / BUCKET.as_nanos()) as usize;
            if s.buckets.len() <= bucket {
                s.buckets.resize(bucket + 1, 0);
            }
            s.buckets[bucket] += 1;
        }
        let (epoch, id) = (s.epoch, id as u16);
        let done = |reason| Ev::Done {
            call,
            round,
            id,
            server: i,
            epoch,
            reason,
        };
        match s.health {
            Health::Killed => self.push(now + connect, done(Answer::Refused)),
            Health::Stopped => self.push(arrives, Ev::Up { call, round, id }),
            Health::Drained => {
                self.push(arrives, Ev::Up { call, round, id });
                self.push(arrives + answer, done(Answer::Unavailable));
            }
            // A full backlog drops the SYN: TCP sends it again later, within the time limit.
            Health::Up if !reached => {
                let again = now + SYN_RETRY * (1u32 << syns.min(16));
                if again < until {
                    self.push(
                        again,
                        Ev::Syn {
                            call,
                            round,
                            id,
                            server: i,
                            syns: syns + 1,
                        },
                    );
                }
            }
            Health::Up => {
                let begin = s.free_at.max(arrives);
                s.free_at = begin + Duration::from_secs_f64(1.0 / capacity);
                let at = s.free_at + answer;
                self.push(arrives, Ev::Up { call, round, id });
                // Past its time limit the probe has given up: the race times the attempt out.
                if at <= until {
                    self.push(at, done(Answer::Ok));
                }
            }
        }
    }

    /// One answer time: log-normal with the median and spread of the parameters.
    fn answer_time(&mut self) -> Duration {
        let (u1, u2) = (self.rng.f64().max(f64::MIN_POSITIVE), self.rng.f64());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        self.params.answer.mul_f64((self.params.spread * z).exp())
    }

    /// A decided call: the device applies it; a retrying action retries; the outcome is kept.
    fn finish(&mut self, slot: CallSlot) {
        let d = slot.device;
        let mut device = self.device(d);
        let draws = Draws {
            pick: self.rng.f64(),
            when: self.rng.f64(),
        };
        let finished = device.finish(&slot.connect, draws);
        self.devices[d as usize].call = NO_CALL;
        let outcome = self.devices[d as usize].outcome as usize;
        match finished.result {
            Ok(connected) => {
                if let Some(default) = device.state().default_server.as_ref().and_then(|s| self.index_of(s)) {
                    self.devices[d as usize].default = default;
                }
                match self.index_of(&connected.server) {
                    Some(i) => {
                        self.placement[usize::from(i)] += 1;
                        self.devices[d as usize].on = i;
                        self.outcomes[outcome].server = Some(i);
                    }
                    None => self.failed(d, format!("connected to {}, not a modelled server", connected.server)),
                }
                self.outcomes[outcome].took = Some(self.now - self.outcomes[outcome].at);
            }
            Err(e @ Error::AllFailed(_)) => {
                let tries = u32::from(self.devices[d as usize].tries) + 1;
                self.devices[d as usize].tries = tries.min(u32::from(u16::MAX)) as u16;
                let wait = match self.action {
                    Action::RetryJitter { until } => {
                        let max = device.config().retry.max_tries;
                        let wait = device.backoff(tries - 1, self.rng.f64());
                        // connect_with_retry: a stop that comes during the wait ends it.
                        (max == 0 || tries < max).then_some((wait, until))
                    }
                    Action::RetryHerd { backoff, until } => Some((backoff.ceiling(tries - 1), until)),
                    Action::Boot | Action::Reconnect => None,
                };
                match wait {
                    Some((wait, until)) if self.now + wait < until => {
                        self.push(
                            self.now + wait,
                            Ev::Act {
                                device: d,
                                admitted: false,
                            },
                        );
                    }
                    _ => {
                        self.failed(d, e.to_string());
                        self.outcomes[outcome].took = Some(self.now - self.outcomes[outcome].at);
                    }
                }
            }
            Err(e) => {
                self.failed(d, e.to_string());
                self.outcomes[outcome].took = Some(self.now - self.outcomes[outcome].at);
            }
        }
    }

    fn failed(&mut self, _d: u32, why: String) {
        self.first_failure.get_or_insert(why);
    }
}
