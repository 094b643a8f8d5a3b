//! The HTTP side: `/scout/v1/servers`, `/scout/v1/health`, 404 for anything else.

use std::io::Cursor;
use std::time::{Duration, Instant};

use tiny_http::{Header, Method, Request, Response, Server};

use crate::db::{self, Database, Snapshot};

/// Body served by `--garbage` instead of the list: `200`, `application/json`, not JSON at all.
pub const GARBAGE: &str = "<html>this is not the JSON you are looking for {\"servers\": [";

/// How often, at most, a continuing database failure is logged again.
const REPEAT_LOG: Duration = Duration::from_secs(5);

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
pub fn route(method: &Method, url: &str) -> Route {
    let path = url.split(['?', '#']).next().unwrap_or("");
    match (method, path) {
        (Method::Get, "/scout/v1/servers") => Route::Servers,
        (Method::Get, "/scout/v1/health") => Route::Health,
        _ => Route::NotFound,
    }
}

/// The wire-format body (SPEC section 3) for `snapshot` as seen by server `self_id`, keys in the
/// order the SPEC shows them.
pub fn servers_json(snapshot: &Snapshot, self_id: &str) -> String {
    let quote = |s: &str| serde_json::Value::from(s).to_string();
    let servers: Vec<String> = snapshot
        .servers
        .iter()
        .map(|m| {
            format!(
                r#"{{"host":{},"port":{},"id":{}}}"#,
                quote(&m.host),
                m.port,
                quote(&m.id)
            )
        })
        .collect();
    format!(
        r#"{{"servers":[{}],"self":{},"generation":{}}}"#,
        servers.join(","),
        quote(self_id),
        snapshot.generation
    )
}

/// Answers requests from its own database connection, falling back to the last list it read.
pub struct Service {
    db: Database,
    self_id: String,
    window_ms: i64,
    garbage: bool,
    last: Option<Snapshot>,
    failing_since: Option<Instant>,
    last_log: Option<Instant>,
}

impl Service {
    /// Makes a service that reads `db` and calls itself `self_id`.
    pub fn new(db: Database, self_id: &str, window_ms: i64, garbage: bool) -> Self {
        Service {
            db,
            self_id: self_id.to_owned(),
            window_ms,
            garbage,
            last: None,
            failing_since: None,
            last_log: None,
        }
    }

    /// Serves requests one at a time until the server is unblocked.
    pub fn run(mut self, server: &Server) {
        for request in server.incoming_requests() {
            self.handle(request);
        }
    }

    /// Answers one request.
    fn handle(&mut self, request: Request) {
        let response = match route(request.method(), request.url()) {
            Route::Health => text(200, "ok"),
            Route::NotFound => text(404, "not found"),
            Route::Servers if self.garbage => json(GARBAGE.to_owned()),
            Route::Servers => match self.snapshot() {
                Some(snapshot) => json(servers_json(&snapshot, &self.self_id)),
                None => text(503, "database unavailable"),
            },
        };
        if let Err(e) = request.respond(response) {
            note!("could not send a response: {e}");
        }
    }

    /// Reads the live list; while the database is unavailable, the last list read.
    fn snapshot(&mut self) -> Option<Snapshot> {
        match self.db.live(self.window_ms) {
            Ok(snapshot) => {
                if let Some(since) = self.failing_since.take() {
                    note!("server list: database available again after {:.1?}", since.elapsed());
                }
                self.last = Some(snapshot.clone());
                Some(snapshot)
            }
            Err(e) => {
                let now = Instant::now();
                let since = *self.failing_since.get_or_insert(now);
                if since == now || self.last_log.is_none_or(|t| t.elapsed() >= REPEAT_LOG) {
                    let fallback = if self.last.is_some() {
                        "the last list read"
                    } else {
                        "503"
                    };
                    note!(
                        "reading the server list failed: {}; serving {fallback}",
                        db::describe(&e)
                    );
                    self.last_log = Some(now);
                }
                self.last.clone()
            }
        }
    }
}

/// A plain-text response.
fn text(status: u16, body: &str) -> Response<Cursor<Vec<u8>>> {
    Response::from_string(body)
        .with_status_code(status)
        .with_header(header("text/plain; charset=utf-8"))
}

/// A `200` JSON response.
fn json(body: String) -> Response<Cursor<Vec<u8>>> {
    Response::from_string(body).with_header(header("application/json"))
}

/// A `Content-Type` header.
fn header(content_type: &str) -> Header {
    Header::from_bytes("Content-Type", content_type).expect("a valid header")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Member;

    #[test]
    fn routes() {
        assert_eq!(route(&Method::Get, "/scout/v1/servers"), Route::Servers);
        assert_eq!(route(&Method::Get, "/scout/v1/servers?x=1"), Route::Servers);
        assert_eq!(route(&Method::Get, "/scout/v1/health"), Route::Health);
        assert_eq!(route(&Method::Post, "/scout/v1/servers"), Route::NotFound);
        assert_eq!(route(&Method::Get, "/scout/v1/servers/"), Route::NotFound);
        assert_eq!(route(&Method::Get, "/"), Route::NotFound);
    }

    #[test]
    fn wire_format() {
        let member = |id: &str, port| Member {
            id: id.into(),
            host: "10.0.0.11".into(),
            port,
            started_at: 0,
        };
        let snapshot = Snapshot {
            servers: vec![member("a", 1), member("b\"", 2)],
            generation: 17,
        };
        assert_eq!(
            servers_json(&snapshot, "a"),
            r#"{"servers":[{"host":"10.0.0.11","port":1,"id":"a"},{"host":"10.0.0.11","port":2,"id":"b\""}],"self":"a","generation":17}"#
        );
    }

    #[test]
    fn garbage_is_not_json() {
        assert!(serde_json::from_str::<serde_json::Value>(GARBAGE).is_err());
    }
}
