//! `scout-server drain|undrain|status ADDR`: one request to a server's admin endpoint (`--admin`),
//! so that scripts need no HTTP client; the answer is parsed with `httparse`.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::cli::AdminCall;
use crate::http::{ADMIN_DRAIN_PATH, ADMIN_STATUS_PATH, ADMIN_UNDRAIN_PATH};

/// How long the call waits to connect, and for the answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Largest answer read, in bytes.
const MAX_ANSWER: u64 = 64 * 1024;

/// Makes `call` to the admin endpoint at `addr`: the body of a `200` answer (the status JSON), or
/// why it failed.
pub fn call(addr: &str, call: AdminCall) -> Result<String, String> {
    let (method, target) = match call {
        AdminCall::Drain(None) => ("POST", ADMIN_DRAIN_PATH.to_owned()),
        AdminCall::Drain(Some(s)) => ("POST", format!("{ADMIN_DRAIN_PATH}?retry_after={s}")),
        AdminCall::Undrain => ("POST", ADMIN_UNDRAIN_PATH.to_owned()),
        AdminCall::Status => ("GET", ADMIN_STATUS_PATH.to_owned()),
    };
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("{method} http://{addr}{target}: {what}: {e}");
    let socket = addr
        .to_socket_addrs()
        .map_err(|e| fail("not an address", &e))?
        .next()
        .ok_or_else(|| fail("not an address", &"it names none"))?;
    let mut stream = TcpStream::connect_timeout(&socket, TIMEOUT)
        .map_err(|e| fail("cannot connect (is --admin set to this address?)", &e))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| fail("cannot set a timeout", &e))?;
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| fail("cannot send", &e))?;
    let mut raw = Vec::new();
    stream
        .take(MAX_ANSWER)
        .read_to_end(&mut raw)
        .map_err(|e| fail("no answer", &e))?;
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(&raw) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Err(fail("bad answer", &"it ends in the middle of its head")),
        Err(e) => return Err(fail("bad answer", &e)),
    };
    let body = String::from_utf8_lossy(&raw[head..]).trim().to_owned();
    match response.code {
        Some(200) => Ok(body),
        Some(code) => Err(fail(&format!("the server answered {code}"), &body)),
        None => Err(fail("bad answer", &"no status")),
    }
}
