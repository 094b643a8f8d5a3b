//! The HTTP side: `/scout/v1/servers`, `/scout/v1/health`, 404 for anything else (and, on the
//! admin listener of `--admin`, `/scout/v1/admin/...` only), answered on one connection (plain
//! TCP or TLS) with keep-alive and pipelining, from replies made in advance.
//!
//! HTTP/1.1 requests are parsed with `httparse`; a request body (never needed here) is read and
//! dropped. Nothing here touches the database: `/scout/v1/servers` is whatever the [`Listing`]
//! holds at the time, unless the [`Steering`] drains or refuses the device.

use std::io::{self, Read, Write};
use std::sync::Arc;

use scoutlb::SERVERS_PATH;

use crate::listing::Listing;
use crate::load::CheckIns;
use crate::relocate;
use crate::steer::{DEVICE_ID_HEADER, MAX_RETRY_AFTER, Steering, Verdict};

/// Body served by `--garbage` instead of the list: `200`, `application/json`, not JSON at all.
pub const GARBAGE: &str = "<html>this is not the JSON you are looking for {\"servers\": [";

/// Path of the health check.
pub const HEALTH_PATH: &str = "/scout/v1/health";

/// Path that starts a drain (`POST`, optional `?retry_after=SECONDS`), on the admin listener.
pub const ADMIN_DRAIN_PATH: &str = "/scout/v1/admin/drain";

/// Path that ends a drain (`POST`), on the admin listener.
pub const ADMIN_UNDRAIN_PATH: &str = "/scout/v1/admin/undrain";

/// Path that relocates devices (`POST`, a JSON body `{"to", "mode", "devices"}`), on the admin
/// listener.
pub const ADMIN_RELOCATE_PATH: &str = "/scout/v1/admin/relocate";

/// Path of the status (`GET`), on the admin listener.
pub const ADMIN_STATUS_PATH: &str = "/scout/v1/admin/status";

/// Largest request head (request line and headers) accepted, in bytes.
const MAX_HEAD: usize = 8 * 1024;

/// Most headers accepted in one request.
const MAX_HEADERS: usize = 64;

/// Largest request body accepted (and dropped), in bytes.
const MAX_BODY: u64 = 64 * 1024;

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /scout/v1/servers`.
    Servers,
    /// `GET /scout/v1/health`.
    Health,
    /// Admin: `POST /scout/v1/admin/drain`, with the `retry_after` of its query if any, and
    /// `keep=true` for a drain that keeps the devices.
    Drain {
        /// The `Retry-After` of a plain drain.
        retry_after: Option<u64>,
        /// Keep serving the devices, the entry marked draining.
        keep: bool,
    },
    /// Admin: `POST /scout/v1/admin/undrain`.
    Undrain,
    /// Admin: `GET /scout/v1/admin/status`.
    Status,
    /// Admin: `POST /scout/v1/admin/relocate`, whose body names the devices.
    Relocate,
    /// Admin: a known path with the wrong method; the method it takes.
    WrongMethod(&'static str),
    /// Admin: a drain's query that cannot be used.
    BadQuery,
    /// Anything else.
    NotFound,
}

/// Maps a method and a request target (query string ignored) to a route of the devices' listener.
pub fn route(method: &str, target: &str) -> Route {
    let path = target.split(['?', '#']).next().unwrap_or("");
    match (method, path) {
        ("GET", SERVERS_PATH) => Route::Servers,
        ("GET", HEALTH_PATH) => Route::Health,
        _ => Route::NotFound,
    }
}

/// Maps a method and a request target to a route of the admin listener.
pub fn admin_route(method: &str, target: &str) -> Route {
    let target = target.split('#').next().unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    match (method, path) {
        ("POST", ADMIN_DRAIN_PATH) => match drain_query(query) {
            Some((retry_after, keep)) => Route::Drain { retry_after, keep },
            None => Route::BadQuery,
        },
        ("POST", ADMIN_UNDRAIN_PATH) => Route::Undrain,
        ("GET", ADMIN_STATUS_PATH) => Route::Status,
        ("POST", ADMIN_RELOCATE_PATH) => Route::Relocate,
        (_, ADMIN_DRAIN_PATH | ADMIN_UNDRAIN_PATH | ADMIN_RELOCATE_PATH) => Route::WrongMethod("POST"),
        (_, ADMIN_STATUS_PATH) => Route::WrongMethod("GET"),
        _ => Route::NotFound,
    }
}

/// The `retry_after` and `keep` of a drain's query string (`retry_after=SECONDS`,
/// `keep=true|false`, nothing else taken); `None` when the query cannot be used.
fn drain_query(query: &str) -> Option<(Option<u64>, bool)> {
    let (mut seconds, mut keep) = (None, false);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=')? {
            ("retry_after", value) => {
                seconds = Some(
                    value
                        .parse::<u64>()
                        .ok()
                        .filter(|n| (1..=MAX_RETRY_AFTER).contains(n))?,
                );
            }
            ("keep", "true") => keep = true,
            ("keep", "false") => keep = false,
            _ => return None,
        }
    }
    Some((seconds, keep))
}

/// A complete answer but for the `Connection` header: status, content type and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Value of `Content-Type`.
    pub content_type: &'static str,
    /// The body, already serialised.
    pub body: Vec<u8>,
    /// Seconds sent in `Retry-After`, if any.
    pub retry_after: Option<u64>,
}

impl Reply {
    /// A `200 application/json` reply.
    pub fn json(body: Vec<u8>) -> Self {
        Self::json_with(200, body)
    }

    /// An `application/json` reply with this status.
    pub fn json_with(status: u16, body: Vec<u8>) -> Self {
        Reply {
            status,
            content_type: "application/json",
            body,
            retry_after: None,
        }
    }

    /// A plain-text reply.
    pub fn text(status: u16, body: &str) -> Self {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.as_bytes().to_vec(),
            retry_after: None,
        }
    }

    /// This reply with `Retry-After: seconds`.
    pub fn retry_after(self, seconds: u64) -> Self {
        Reply {
            retry_after: Some(seconds),
            ..self
        }
    }

    /// An admin error: `{"error": why}` with this status.
    pub fn error(status: u16, why: &str) -> Self {
        Self::json_with(status, serde_json::json!({ "error": why }).to_string().into_bytes())
    }

    /// Appends the whole response (head and body) to `out`.
    fn write_to(&self, out: &mut Vec<u8>, connection: Connection) {
        let connection = match connection {
            Connection::KeepAlive => "",
            Connection::KeepAlive10 => "Connection: keep-alive\r\n",
            Connection::Close => "Connection: close\r\n",
        };
        // Writing into a Vec cannot fail.
        let _ = write!(
            out,
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        if let Some(seconds) = self.retry_after {
            let _ = write!(out, "Retry-After: {seconds}\r\n");
        }
        let _ = write!(out, "{connection}\r\n");
        out.extend_from_slice(&self.body);
    }
}

/// The reason phrase of the status codes used here.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Whether the connection stays open after a response, and how that is said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Connection {
    /// HTTP/1.1 default: stays open, nothing to say.
    KeepAlive,
    /// HTTP/1.0 that asked for keep-alive: stays open, `Connection: keep-alive`.
    KeepAlive10,
    /// Closed after this response, `Connection: close`.
    Close,
}

/// How a connection ended on this side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The client closed it (or went quiet) between requests.
    ByClient,
    /// This side closes it after its last response; `unread` when input is left unread, which
    /// a plain close would answer with a reset that can destroy that response.
    ByServer {
        /// Input arrived that was not read.
        unread: bool,
    },
}

/// Which listener a [`Service`] answers.
enum Face {
    /// The devices': the current list (or garbage, with `--garbage`) and the health check.
    Devices {
        listing: Arc<Listing>,
        garbage: Option<Reply>,
        health: Reply,
        check_ins: Arc<CheckIns>,
    },
    /// The admin endpoint of `--admin`; it relocates devices of `cluster` when there is one.
    Admin { cluster: Option<Cluster> },
}

/// What the admin endpoint needs to relocate devices: the shared database and the list served.
pub struct Cluster {
    /// The `--db` target.
    pub db: String,
    /// This server's list, whose ids a relocation may name.
    pub listing: Arc<Listing>,
}

/// Answers requests: the devices' (the list, as steered) or the admin endpoint's.
pub struct Service {
    face: Face,
    steering: Arc<Steering>,
    not_found: Reply,
}

impl Service {
    /// Makes a service that serves `listing`, or garbage instead when `garbage` is set, to the
    /// devices `steering` lets through, noting in `check_ins` the devices served the list.
    pub fn new(listing: Arc<Listing>, garbage: bool, steering: Arc<Steering>, check_ins: Arc<CheckIns>) -> Self {
        Service {
            face: Face::Devices {
                listing,
                garbage: garbage.then(|| Reply::json(GARBAGE.as_bytes().to_vec())),
                health: Reply::text(200, "ok"),
                check_ins,
            },
            steering,
            not_found: Reply::text(404, "not found"),
        }
    }

    /// Makes the admin endpoint's service, which drains and undrains through `steering`, and
    /// relocates devices of `cluster`.
    pub fn admin(steering: Arc<Steering>, cluster: Option<Cluster>) -> Self {
        Service {
            face: Face::Admin { cluster },
            steering,
            not_found: Reply::text(404, "not found"),
        }
    }

    /// The route of a request on this service's listener.
    fn route(&self, method: &str, target: &str) -> Route {
        match self.face {
            Face::Devices { .. } => route(method, target),
            Face::Admin { .. } => admin_route(method, target),
        }
    }

    /// Appends the answer to one request to `out`.
    fn respond(&self, route: Route, device: Option<&str>, body: &[u8], out: &mut Vec<u8>, connection: Connection) {
        match (&self.face, route) {
            (Face::Devices { health, .. }, Route::Health) => match self.steering.health() {
                Some(draining) => draining.write_to(out, connection),
                None => health.write_to(out, connection),
            },
            (
                Face::Devices {
                    listing,
                    garbage,
                    check_ins,
                    ..
                },
                Route::Servers,
            ) => {
                match self.steering.admit(device) {
                    Verdict::Steer(reply) => reply.write_to(out, connection),
                    verdict => {
                        let published = listing.current();
                        if let Some(device) = device
                            && (garbage.is_some() || published.reply.status == 200)
                        {
                            // Served the list: a check-in, counted in this server's load.
                            check_ins.note(device);
                        }
                        match (verdict, garbage) {
                            (_, Some(garbage)) => garbage.write_to(out, connection),
                            (Verdict::Relocate(to), None) => {
                                relocate::with_relocate(&published.reply, &to).write_to(out, connection)
                            }
                            (_, None) => published.reply.write_to(out, connection),
                        }
                    }
                }
            }
            (Face::Admin { cluster }, Route::Relocate) => {
                let answer = match cluster {
                    Some(cluster) => relocate::admin(&self.steering, cluster, body),
                    None => Err(Reply::error(503, "this server cannot relocate devices")),
                };
                match answer {
                    Ok(reply) | Err(reply) => reply.write_to(out, connection),
                }
            }
            (Face::Admin { .. }, Route::Drain { keep: true, .. }) => {
                if self.steering.stopping() {
                    Reply::error(409, "this server is stopping: it drains until it exits").write_to(out, connection);
                } else {
                    self.steering.drain_keeping();
                    note!("admin: draining, keeping its devices (its entry marked draining)");
                    Reply::json(self.steering.status().to_string().into_bytes()).write_to(out, connection);
                }
            }
            (Face::Admin { .. }, Route::Drain { retry_after, .. }) => {
                let was = self.steering.draining();
                self.steering.drain(retry_after);
                let status = self.steering.status();
                note!(
                    "admin: {} (Retry-After: {})",
                    if was { "drain time changed" } else { "draining" },
                    status["retry_after"]
                );
                Reply::json(status.to_string().into_bytes()).write_to(out, connection);
            }
            (Face::Admin { .. }, Route::Undrain) => match self.steering.undrain() {
                Ok(()) => {
                    note!("admin: not draining");
                    Reply::json(self.steering.status().to_string().into_bytes()).write_to(out, connection);
                }
                Err(why) => Reply::error(409, &why).write_to(out, connection),
            },
            (Face::Admin { cluster }, Route::Status) => {
                let mut status = self.steering.status();
                // The load this server publishes for itself (behaviour.md, "Reference cluster").
                status["load"] = cluster.as_ref().and_then(|c| c.listing.own_load()).into();
                Reply::json(status.to_string().into_bytes()).write_to(out, connection);
            }
            (Face::Admin { .. }, Route::WrongMethod(method)) => {
                Reply::error(405, &format!("this path takes {method}")).write_to(out, connection);
            }
            (Face::Admin { .. }, Route::BadQuery) => {
                let why = format!(
                    "the query takes retry_after=SECONDS, a whole number from 1 to {MAX_RETRY_AFTER}, and keep=true or keep=false"
                );
                Reply::error(400, &why).write_to(out, connection);
            }
            _ => self.not_found.write_to(out, connection),
        }
    }

    /// Answers the requests that arrive on `stream` until either side closes the connection;
    /// an error is an I/O or TLS failure (a timeout included) that ends the connection.
    pub fn serve(&self, stream: &mut impl ReadWrite) -> io::Result<End> {
        let mut input = vec![0u8; MAX_HEAD];
        let mut filled = 0;
        let mut to_drop: u64 = 0;
        let mut out = Vec::with_capacity(1024);
        loop {
            let mut used = 0;
            let mut end = None;
            // Every complete request in the buffer is answered before the next read (pipelining).
            while end.is_none() {
                let skip = usize::try_from(to_drop).unwrap_or(usize::MAX).min(filled - used);
                used += skip;
                to_drop -= skip as u64;
                if to_drop > 0 || used == filled {
                    break;
                }
                match parse(&input[used..filled], |m, t| self.route(m, t)) {
                    Parsed::Partial => break,
                    Parsed::Request {
                        len,
                        route,
                        connection,
                        body,
                        device,
                    } => {
                        used += len;
                        let content = if route == Route::Relocate {
                            // The one request whose body counts: read it whole (at most MAX_BODY).
                            let want = usize::try_from(body).unwrap_or(usize::MAX);
                            let here = want.min(filled - used);
                            let mut content = input[used..used + here].to_vec();
                            used += here;
                            let mut chunk = [0u8; 8192];
                            while content.len() < want {
                                let room = (want - content.len()).min(chunk.len());
                                match stream.read(&mut chunk[..room])? {
                                    0 => return Ok(End::ByClient),
                                    n => content.extend_from_slice(&chunk[..n]),
                                }
                            }
                            content
                        } else {
                            to_drop = body;
                            Vec::new()
                        };
                        self.respond(route, device.as_deref(), &content, &mut out, connection);
                        if connection == Connection::Close {
                            end = Some(End::ByServer {
                                unread: used < filled || to_drop > 0,
                            });
                        }
                    }
                    Parsed::Refused(reply) => {
                        reply.write_to(&mut out, Connection::Close);
                        end = Some(End::ByServer { unread: true });
                    }
                }
            }
            if !out.is_empty() {
                stream.write_all(&out)?;
                stream.flush()?;
                out.clear();
            }
            if let Some(end) = end {
                return Ok(end);
            }
            input.copy_within(used..filled, 0);
            filled -= used;
            if filled == input.len() {
                Reply::text(431, "request head too large").write_to(&mut out, Connection::Close);
                stream.write_all(&out)?;
                stream.flush()?;
                return Ok(End::ByServer { unread: true });
            }
            match stream.read(&mut input[filled..])? {
                0 => return Ok(End::ByClient),
                n => filled += n,
            }
        }
    }
}

/// A connection's byte stream: a TCP socket or a TLS session over one.
pub trait ReadWrite: Read + Write {}

impl<T: Read + Write> ReadWrite for T {}

/// The start of a buffer, as far as it holds a request.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    /// The request head is not complete yet.
    Partial,
    /// A complete request head of `len` bytes, followed by a body of `body` bytes.
    Request {
        len: usize,
        route: Route,
        connection: Connection,
        body: u64,
        /// The device id the request names ([`DEVICE_ID_HEADER`]), if not empty.
        device: Option<String>,
    },
    /// A request this server does not take; answer and close.
    Refused(Reply),
}

/// Parses the request at the start of `input`, routed by `router` (method, target).
fn parse(input: &[u8], router: impl Fn(&str, &str) -> Route) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(input) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => {
            return Parsed::Refused(Reply::text(431, "too many request headers"));
        }
        Err(e) => return Parsed::Refused(Reply::text(400, &format!("bad request: {e}"))),
    };
    let (Some(method), Some(target), Some(version)) = (request.method, request.path, request.version) else {
        return Parsed::Refused(Reply::text(400, "bad request"));
    };
    let mut body = 0;
    let mut close = false;
    let mut keep_alive = false;
    let mut device = None;
    for header in request.headers.iter() {
        let value = String::from_utf8_lossy(header.value);
        if header.name.eq_ignore_ascii_case(DEVICE_ID_HEADER) {
            let id = value.trim();
            device = (!id.is_empty()).then(|| id.to_owned());
        } else if header.name.eq_ignore_ascii_case("content-length") {
            match value.trim().parse::<u64>() {
                Ok(n) if n <= MAX_BODY => body = n,
                Ok(_) => return Parsed::Refused(Reply::text(413, "request body too large")),
                Err(_) => return Parsed::Refused(Reply::text(400, "bad Content-Length")),
            }
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Parsed::Refused(Reply::text(501, "request bodies with Transfer-Encoding are not taken"));
        } else if header.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                close |= token.eq_ignore_ascii_case("close");
                keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        }
    }
    let connection = match (version, close, keep_alive) {
        (_, true, _) => Connection::Close,
        (1, false, _) => Connection::KeepAlive,
        (_, false, true) => Connection::KeepAlive10,
        (_, false, false) => Connection::Close,
    };
    Parsed::Request {
        len,
        route: router(method, target),
        connection,
        body,
        device,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Member, Snapshot};

    #[test]
    fn routes() {
        assert_eq!(route("GET", "/scout/v1/servers"), Route::Servers);
        assert_eq!(route("GET", "/scout/v1/servers?x=1"), Route::Servers);
        assert_eq!(route("GET", "/scout/v1/health"), Route::Health);
        assert_eq!(route("POST", "/scout/v1/servers"), Route::NotFound);
        assert_eq!(route("HEAD", "/scout/v1/servers"), Route::NotFound);
        assert_eq!(route("GET", "/scout/v1/servers/"), Route::NotFound);
        assert_eq!(route("GET", "/"), Route::NotFound);
    }

    #[test]
    fn admin_routes() {
        assert_eq!(
            admin_route("POST", "/scout/v1/admin/drain"),
            Route::Drain {
                retry_after: None,
                keep: false
            }
        );
        assert_eq!(
            admin_route("POST", "/scout/v1/admin/drain?keep=true&retry_after=5"),
            Route::Drain {
                retry_after: Some(5),
                keep: true
            }
        );
        assert_eq!(admin_route("POST", "/scout/v1/admin/drain?keep=yes"), Route::BadQuery);
        assert_eq!(admin_route("POST", "/scout/v1/admin/drain?keep"), Route::BadQuery);
        assert_eq!(
            admin_route("POST", "/scout/v1/admin/drain?retry_after=90"),
            Route::Drain {
                retry_after: Some(90),
                keep: false
            }
        );
        for bad in [
            "retry_after=0",
            "retry_after=3601",
            "retry_after=x",
            "retry=5",
            "retry_after",
        ] {
            let target = format!("/scout/v1/admin/drain?{bad}");
            assert_eq!(admin_route("POST", &target), Route::BadQuery, "{bad}");
        }
        assert_eq!(admin_route("POST", "/scout/v1/admin/undrain"), Route::Undrain);
        assert_eq!(admin_route("GET", "/scout/v1/admin/status"), Route::Status);
        assert_eq!(admin_route("GET", "/scout/v1/admin/drain"), Route::WrongMethod("POST"));
        assert_eq!(admin_route("POST", "/scout/v1/admin/status"), Route::WrongMethod("GET"));
        // Each listener has its own paths.
        assert_eq!(admin_route("GET", "/scout/v1/servers"), Route::NotFound);
        assert_eq!(route("POST", "/scout/v1/admin/drain"), Route::NotFound);
    }

    #[test]
    fn the_device_id_header() {
        let device = |request: &str| match parse(request.as_bytes(), route) {
            Parsed::Request { device, .. } => device,
            other => panic!("{other:?}"),
        };
        assert_eq!(device("GET / HTTP/1.1\r\n\r\n"), None);
        assert_eq!(
            device("GET / HTTP/1.1\r\nscout-device-id:  dev-1 \r\n\r\n").as_deref(),
            Some("dev-1")
        );
        assert_eq!(device("GET / HTTP/1.1\r\nScout-Device-Id: \r\n\r\n"), None);
    }

    #[test]
    fn garbage_is_not_json() {
        assert!(serde_json::from_str::<serde_json::Value>(GARBAGE).is_err());
    }

    #[test]
    fn connection_rules() {
        let connection = |request: &str| match parse(request.as_bytes(), route) {
            Parsed::Request { connection, .. } => connection,
            other => panic!("{other:?}"),
        };
        assert_eq!(connection("GET / HTTP/1.1\r\n\r\n"), Connection::KeepAlive);
        assert_eq!(
            connection("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n"),
            Connection::Close
        );
        assert_eq!(connection("GET / HTTP/1.0\r\n\r\n"), Connection::Close);
        assert_eq!(
            connection("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
            Connection::KeepAlive10
        );
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n", route), Parsed::Partial);
    }

    #[test]
    fn refusals() {
        let status = |request: &str| match parse(request.as_bytes(), route) {
            Parsed::Refused(reply) => reply.status,
            other => panic!("{other:?}"),
        };
        assert_eq!(status("GET / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"), 413);
        assert_eq!(status("GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"), 400);
        assert_eq!(status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 501);
        assert_eq!(status("GET / HTTP/1.1\r\nBad Header\r\n\r\n"), 400);
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "X: y\r\n".repeat(MAX_HEADERS + 1));
        assert_eq!(status(&many), 431);
    }

    /// A connection whose input is fixed and whose output is kept.
    struct Script {
        input: io::Cursor<Vec<u8>>,
        output: Vec<u8>,
    }

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            // Seven bytes at a time: requests arrive in pieces.
            let n = buf.len().min(7);
            self.input.read(&mut buf[..n])
        }
    }

    impl Write for Script {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.output.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn serve(service: &Service, input: &str) -> (End, String) {
        let mut script = Script {
            input: io::Cursor::new(input.as_bytes().to_vec()),
            output: Vec::new(),
        };
        let end = service.serve(&mut script).unwrap();
        (end, String::from_utf8(script.output).unwrap())
    }

    fn steering() -> Arc<Steering> {
        Arc::new(Steering::new("a", 30, None))
    }

    #[test]
    fn a_drain_answers_503_with_retry_after() {
        let steering = steering();
        let service = Service::new(listing(), false, Arc::clone(&steering), Arc::default());
        let admin = Service::admin(Arc::clone(&steering), None);
        let (_, output) = serve(&admin, "POST /scout/v1/admin/drain?retry_after=12 HTTP/1.1\r\n\r\n");
        assert!(output.starts_with("HTTP/1.1 200 OK\r\n"), "{output}");
        assert!(output.contains(r#""draining":true"#), "{output}");
        let (_, output) = serve(
            &service,
            "GET /scout/v1/servers HTTP/1.1\r\n\r\nGET /scout/v1/health HTTP/1.1\r\n\r\n",
        );
        let (servers, health) = output.split_at(output.rfind("HTTP/1.1 ").unwrap());
        assert!(servers.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{output}");
        assert!(servers.contains("\r\nRetry-After: 12\r\n"), "{output}");
        assert!(
            servers.ends_with(r#"{"draining":true,"retry_after":12,"self":"a"}"#),
            "{output}"
        );
        assert!(
            health.starts_with("HTTP/1.1 503 ") && health.contains("Retry-After: 12\r\n"),
            "{output}"
        );
        assert!(health.ends_with("\r\n\r\ndraining"), "{output}");
        let (_, output) = serve(&admin, "POST /scout/v1/admin/undrain HTTP/1.1\r\n\r\n");
        assert!(output.contains(r#""draining":false"#), "{output}");
        let (_, output) = serve(&service, "GET /scout/v1/servers HTTP/1.1\r\n\r\n");
        assert!(
            output.starts_with("HTTP/1.1 200 OK\r\n") && !output.contains("Retry-After"),
            "{output}"
        );
        // The admin paths are not served to devices, nor the devices' to the admin.
        assert!(
            serve(&service, "POST /scout/v1/admin/drain HTTP/1.1\r\n\r\n")
                .1
                .starts_with("HTTP/1.1 404 ")
        );
        assert!(
            serve(&admin, "GET /scout/v1/servers HTTP/1.1\r\n\r\n")
                .1
                .starts_with("HTTP/1.1 404 ")
        );
        let (_, output) = serve(&admin, "GET /scout/v1/admin/drain HTTP/1.1\r\n\r\n");
        assert!(
            output.starts_with("HTTP/1.1 405 ") && output.ends_with(r#"{"error":"this path takes POST"}"#),
            "{output}"
        );
    }

    fn listing() -> Arc<Listing> {
        let listing = Arc::new(Listing::new("a", None));
        listing.publish(&Snapshot {
            servers: vec![Member {
                id: "a".into(),
                host: "10.0.0.1".into(),
                port: 1,
                started_at: 0,
                weight: None,
                load_window_ms: None,
            }],
            generation: 3,
            expires_at: None,
        });
        listing
    }

    #[test]
    fn pipelined_requests_with_a_body_in_between() {
        let service = Service::new(listing(), false, steering(), Arc::default());
        let (end, output) = serve(
            &service,
            "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello\
             GET /scout/v1/health HTTP/1.1\r\n\r\n\
             GET /scout/v1/servers HTTP/1.1\r\nConnection: close\r\n\r\n\
             GET /never/answered HTTP/1.1\r\n\r\n",
        );
        assert_eq!(end, End::ByServer { unread: true });
        let statuses: Vec<&str> = output.matches("HTTP/1.1 ").map(|_| "").collect();
        assert_eq!(statuses.len(), 3, "{output}");
        assert!(output.starts_with("HTTP/1.1 404 Not Found\r\n"), "{output}");
        assert!(output.contains("\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"));
        assert!(output.ends_with(r#"Connection: close\r\n\r\n{"generation":3,"self":"a","servers":[{"host":"10.0.0.1","id":"a","port":1}]}"#.replace("\\r\\n", "\r\n").as_str()), "{output}");
    }

    #[test]
    fn keep_alive_until_the_client_closes() {
        let service = Service::new(listing(), true, steering(), Arc::default());
        let (end, output) = serve(&service, "GET /scout/v1/servers HTTP/1.1\r\n\r\n");
        assert_eq!(end, End::ByClient);
        assert!(output.ends_with(GARBAGE), "{output}");
        assert!(!output.contains("Connection"), "{output}");
        let (end, output) = serve(
            &service,
            "GET /scout/v1/health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        );
        assert_eq!(end, End::ByClient);
        assert!(output.contains("Connection: keep-alive\r\n"), "{output}");
    }

    #[test]
    fn an_endless_head_is_refused() {
        let service = Service::new(listing(), false, steering(), Arc::default());
        let (end, output) = serve(&service, &format!("GET /{} HTTP/1.1\r\n", "x".repeat(MAX_HEAD)));
        assert_eq!(end, End::ByServer { unread: true });
        assert!(output.starts_with("HTTP/1.1 431 "), "{output}");
    }
}
