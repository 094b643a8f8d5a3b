//! One HTTP/1.1 `GET` of the server list on a byte stream, without I/O: ureq-proto's client state
//! machine writes the request and reads the answer; the attempt moves the bytes.

use ureq_proto::client::state::{RecvBody, RecvResponse, SendRequest};
use ureq_proto::client::{Call, RecvResponseResult, SendRequestResult};
use ureq_proto::http::{self, Request};

use crate::probe::{Answer, SERVERS_PATH};
use crate::{FailReason, MAX_BODY_BYTES};

/// Where the exchange is.
enum Phase {
    /// Writing the request.
    Send(Call<SendRequest>),
    /// Reading the status line and headers.
    Head(Call<RecvResponse>),
    /// Reading the body of `status`.
    Body(Call<RecvBody>, Head),
    /// Over: the answer was handed out, or it failed.
    Over,
}

/// What the head of the answer said.
struct Head {
    status: u16,
    retry_after: Option<String>,
}

/// One request and its answer.
pub(crate) struct Exchange {
    phase: Phase,
    /// Request bytes not written yet.
    output: Vec<u8>,
    /// Answer bytes not read by the state machine yet.
    input: Vec<u8>,
    body: Vec<u8>,
    /// What the body is decoded into before it joins `body`: grown (and zeroed) as the input
    /// needs, not at every read.
    out: Vec<u8>,
}

/// An answer that is not HTTP/1.1: an I/O failure, as the blocking probe (ureq) reports it.
fn bad(e: impl std::fmt::Display) -> FailReason {
    FailReason::Io {
        kind: std::io::ErrorKind::InvalidData,
        message: format!("the answer is not valid HTTP/1.1: {e}"),
    }
}

impl Exchange {
    /// `GET SERVERS_PATH` of `authority` (`host:port`), with `headers`.
    pub(crate) fn new(scheme: &str, authority: &str, headers: &[(&str, String)]) -> Result<Self, FailReason> {
        let mut request = Request::get(format!("{scheme}://{authority}{SERVERS_PATH}"))
            .header("user-agent", concat!("scoutlb/", env!("CARGO_PKG_VERSION")))
            .header("connection", "close");
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let request = request
            .body(())
            .map_err(|e| bad(format!("cannot build the request: {e}")))?;
        let call = Call::new(request).map_err(bad)?;
        let mut call = call.proceed();
        let mut output = vec![0; 4096];
        let used = call.write(&mut output).map_err(bad)?;
        output.truncate(used);
        Ok(Exchange {
            phase: Phase::Send(call),
            output,
            input: Vec::new(),
            body: Vec::new(),
            out: Vec::new(),
        })
    }

    /// The request bytes still to write.
    pub(crate) fn to_send(&self) -> &[u8] {
        &self.output
    }

    /// `n` bytes of [`Exchange::to_send`] were written.
    pub(crate) fn sent(&mut self, n: usize) -> Result<(), FailReason> {
        self.output.drain(..n.min(self.output.len()));
        if !self.output.is_empty() {
            return Ok(());
        }
        if let Phase::Send(call) = std::mem::replace(&mut self.phase, Phase::Over) {
            match call.proceed().map_err(bad)? {
                Some(SendRequestResult::RecvResponse(call)) => self.phase = Phase::Head(call),
                _ => return Err(bad("the request was not complete")),
            }
        }
        Ok(())
    }

    /// Whether the request is written and the answer awaited.
    pub(crate) fn is_reading(&self) -> bool {
        matches!(self.phase, Phase::Head(_) | Phase::Body(..))
    }

    /// `data` arrived (empty = the server closed the connection): the answer once it is whole.
    pub(crate) fn received(&mut self, data: &[u8]) -> Result<Option<Answer>, FailReason> {
        let closed = data.is_empty();
        self.input.extend_from_slice(data);
        loop {
            match std::mem::replace(&mut self.phase, Phase::Over) {
                Phase::Head(mut call) => {
                    let (used, response) = call.try_response(&self.input, false).map_err(bad)?;
                    self.input.drain(..used);
                    let Some(response) = response else {
                        if closed {
                            return Err(closed_early());
                        }
                        self.phase = Phase::Head(call);
                        return Ok(None);
                    };
                    let head = Head {
                        status: response.status().as_u16(),
                        retry_after: header(&response, "retry-after"),
                    };
                    match call.proceed() {
                        Some(RecvResponseResult::RecvBody(call)) => self.phase = Phase::Body(call, head),
                        Some(_) => return Ok(Some(self.answer(head))),
                        None => return Err(bad("the head was not complete")),
                    }
                }
                Phase::Body(mut call, head) => {
                    // The body decodes into no more bytes than the input holds: `out` grows to
                    // that (16 KiB at most), zeroed once, rather than 16 KiB for a short list.
                    let want = self.input.len().clamp(1, 16 * 1024);
                    if self.out.len() < want {
                        self.out.resize(want, 0);
                    }
                    loop {
                        let (used, made) = call.read(&self.input, &mut self.out).map_err(bad)?;
                        self.input.drain(..used);
                        self.body.extend_from_slice(&self.out[..made]);
                        if self.body.len() > MAX_BODY_BYTES {
                            return Err(FailReason::InvalidList(format!(
                                "body exceeds the limit of {MAX_BODY_BYTES} bytes"
                            )));
                        }
                        if used == 0 && made == 0 {
                            break;
                        }
                    }
                    // A body that ends with the connection is whole when it closes; any other
                    // is whole when ureq-proto says so.
                    let ended =
                        call.can_proceed() && (closed || call.body_mode() != ureq_proto::BodyMode::CloseDelimited);
                    if ended {
                        return Ok(Some(self.answer(head)));
                    }
                    if closed {
                        return Err(closed_early());
                    }
                    self.phase = Phase::Body(call, head);
                    return Ok(None);
                }
                other => {
                    self.phase = other;
                    return Ok(None);
                }
            }
        }
    }

    fn answer(&mut self, head: Head) -> Answer {
        Answer {
            status: head.status,
            retry_after: head.retry_after,
            body: std::mem::take(&mut self.body),
        }
    }
}

fn header(response: &http::Response<()>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn closed_early() -> FailReason {
    FailReason::Io {
        kind: std::io::ErrorKind::UnexpectedEof,
        message: "the server closed the connection before its answer was whole".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange() -> Exchange {
        Exchange::new("http", "127.0.0.1:22123", &[("scout-device-id", "dev-1".to_string())]).unwrap()
    }

    #[test]
    fn writes_a_get_of_the_list_with_the_headers() {
        let e = exchange();
        let text = String::from_utf8(e.to_send().to_vec()).unwrap();
        assert!(text.starts_with("GET /scout/v1/servers HTTP/1.1\r\n"), "{text}");
        assert!(text.contains("host: 127.0.0.1:22123\r\n"), "{text}");
        assert!(text.contains("scout-device-id: dev-1\r\n"), "{text}");
    }

    fn sent(mut e: Exchange) -> Exchange {
        let n = e.to_send().len();
        e.sent(n).unwrap();
        assert!(e.is_reading());
        e
    }

    #[test]
    fn reads_an_answer_in_pieces() {
        let mut e = sent(exchange());
        let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        for (i, byte) in answer.iter().enumerate() {
            let got = e.received(std::slice::from_ref(byte)).unwrap();
            assert_eq!(got.is_some(), i == answer.len() - 1, "byte {i}");
            if let Some(a) = got {
                assert_eq!((a.status, a.body.as_slice()), (200, &b"hello"[..]));
            }
        }
    }

    #[test]
    fn reads_chunked_and_close_delimited_bodies_and_retry_after() {
        let mut e = sent(exchange());
        let a = e
            .received(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(a.body, b"abc");
        let mut e = sent(exchange());
        assert!(
            e.received(b"HTTP/1.0 503 Busy\r\nRetry-After: 7\r\n\r\nxy")
                .unwrap()
                .is_none()
        );
        let a = e.received(b"").unwrap().unwrap();
        assert_eq!(
            (a.status, a.retry_after.as_deref(), a.body.as_slice()),
            (503, Some("7"), &b"xy"[..])
        );
    }

    #[test]
    fn refuses_garbage_an_early_close_and_an_oversized_body() {
        let mut e = sent(exchange());
        assert!(matches!(
            e.received(b"SSH-2.0-OpenSSH\r\n\r\n"),
            Err(FailReason::Io { .. })
        ));
        let mut e = sent(exchange());
        assert!(
            e.received(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc")
                .unwrap()
                .is_none()
        );
        assert!(matches!(e.received(b""), Err(FailReason::Io { .. })));
        let mut e = sent(exchange());
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", MAX_BODY_BYTES + 1);
        e.received(head.as_bytes()).unwrap();
        let big = vec![b'x'; MAX_BODY_BYTES + 1];
        assert!(matches!(e.received(&big), Err(FailReason::InvalidList(m)) if m.contains("exceeds")));
    }
}
