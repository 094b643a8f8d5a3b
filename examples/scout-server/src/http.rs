//! The HTTP side: `/scout/v1/servers`, `/scout/v1/health`, 404 for anything else, answered on one
//! connection (plain TCP or TLS) with keep-alive and pipelining, from replies made in advance.
//!
//! HTTP/1.1 requests are parsed with `httparse`; a request body (never needed here) is read and
//! dropped. Nothing here touches the database: `/scout/v1/servers` is whatever the [`Listing`]
//! holds at the time.

use std::io::{self, Read, Write};
use std::sync::Arc;

use scoutlb::SERVERS_PATH;

use crate::listing::Listing;

/// Body served by `--garbage` instead of the list: `200`, `application/json`, not JSON at all.
pub const GARBAGE: &str = "<html>this is not the JSON you are looking for {\"servers\": [";

/// Path of the health check.
pub const HEALTH_PATH: &str = "/scout/v1/health";

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
    /// Anything else.
    NotFound,
}

/// Maps a method and a request target (query string ignored) to a route.
pub fn route(method: &str, target: &str) -> Route {
    let path = target.split(['?', '#']).next().unwrap_or("");
    match (method, path) {
        ("GET", SERVERS_PATH) => Route::Servers,
        ("GET", HEALTH_PATH) => Route::Health,
        _ => Route::NotFound,
    }
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
}

impl Reply {
    /// A `200 application/json` reply.
    pub fn json(body: Vec<u8>) -> Self {
        Reply {
            status: 200,
            content_type: "application/json",
            body,
        }
    }

    /// A plain-text reply.
    pub fn text(status: u16, body: &str) -> Self {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.as_bytes().to_vec(),
        }
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
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{connection}\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        out.extend_from_slice(&self.body);
    }
}

/// The reason phrase of the status codes used here.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
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

/// Answers requests from the current list (or garbage, with `--garbage`).
pub struct Service {
    listing: Arc<Listing>,
    garbage: Option<Reply>,
    health: Reply,
    not_found: Reply,
}

impl Service {
    /// Makes a service that serves `listing`, or garbage instead when `garbage` is set.
    pub fn new(listing: Arc<Listing>, garbage: bool) -> Self {
        Service {
            listing,
            garbage: garbage.then(|| Reply::json(GARBAGE.as_bytes().to_vec())),
            health: Reply::text(200, "ok"),
            not_found: Reply::text(404, "not found"),
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
                match parse(&input[used..filled]) {
                    Parsed::Partial => break,
                    Parsed::Request {
                        len,
                        route,
                        connection,
                        body,
                    } => {
                        used += len;
                        to_drop = body;
                        let current;
                        let reply = match route {
                            Route::Health => &self.health,
                            Route::NotFound => &self.not_found,
                            Route::Servers => match &self.garbage {
                                Some(garbage) => garbage,
                                None => {
                                    current = self.listing.current();
                                    &current.reply
                                }
                            },
                        };
                        reply.write_to(&mut out, connection);
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
    },
    /// A request this server does not take; answer and close.
    Refused(Reply),
}

/// Parses the request at the start of `input`.
fn parse(input: &[u8]) -> Parsed {
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
    for header in request.headers.iter() {
        let value = String::from_utf8_lossy(header.value);
        if header.name.eq_ignore_ascii_case("content-length") {
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
        route: route(method, target),
        connection,
        body,
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
    fn garbage_is_not_json() {
        assert!(serde_json::from_str::<serde_json::Value>(GARBAGE).is_err());
    }

    #[test]
    fn connection_rules() {
        let connection = |request: &str| match parse(request.as_bytes()) {
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
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n"), Parsed::Partial);
    }

    #[test]
    fn refusals() {
        let status = |request: &str| match parse(request.as_bytes()) {
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

    fn listing() -> Arc<Listing> {
        let listing = Arc::new(Listing::new("a", None));
        listing.publish(&Snapshot {
            servers: vec![Member {
                id: "a".into(),
                host: "10.0.0.1".into(),
                port: 1,
                started_at: 0,
            }],
            generation: 3,
            expires_at: None,
        });
        listing
    }

    #[test]
    fn pipelined_requests_with_a_body_in_between() {
        let service = Service::new(listing(), false);
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
        let service = Service::new(listing(), true);
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
        let service = Service::new(listing(), false);
        let (end, output) = serve(&service, &format!("GET /{} HTTP/1.1\r\n", "x".repeat(MAX_HEAD)));
        assert_eq!(end, End::ByServer { unread: true });
        assert!(output.starts_with("HTTP/1.1 431 "), "{output}");
    }
}
