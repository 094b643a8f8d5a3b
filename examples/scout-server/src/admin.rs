//! `scout-server drain|undrain|status|relocate ADDR`: requests to a server's admin endpoint
//! (`--admin`), so that scripts need no HTTP client; the answer is parsed with `httparse`.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::cli::AdminCall;
use crate::http::{ADMIN_DRAIN_PATH, ADMIN_RELOCATE_PATH, ADMIN_STATUS_PATH, ADMIN_UNDRAIN_PATH};

/// How long the call waits to connect, and for the answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Largest answer read, in bytes.
const MAX_ANSWER: u64 = 64 * 1024;

/// Largest relocation request body sent, in bytes (the server takes 64 KiB); more devices go in
/// several requests.
const RELOCATE_BATCH: usize = 48 * 1024;

/// Makes `call` to the admin endpoint at `addr`: the body of a `200` answer (the status JSON; for
/// a relocation in several requests, the last answer with the count of all), or why it failed.
pub fn call(addr: &str, call: AdminCall) -> Result<String, String> {
    let (method, target) = match call {
        AdminCall::Drain(None) => ("POST", ADMIN_DRAIN_PATH.to_owned()),
        AdminCall::Drain(Some(s)) => ("POST", format!("{ADMIN_DRAIN_PATH}?retry_after={s}")),
        AdminCall::DrainKeeping => ("POST", format!("{ADMIN_DRAIN_PATH}?keep=true")),
        AdminCall::Undrain => ("POST", ADMIN_UNDRAIN_PATH.to_owned()),
        AdminCall::Status => ("GET", ADMIN_STATUS_PATH.to_owned()),
        AdminCall::Relocate {
            to,
            mode,
            devices,
            file,
        } => return relocate(addr, &to, &mode, devices, file),
    };
    request(addr, method, &target, b"")
}

/// Sends the relocation of `devices` and of the ids of `file`, in batches under [`RELOCATE_BATCH`].
fn relocate(
    addr: &str,
    to: &str,
    mode: &str,
    mut devices: Vec<String>,
    file: Option<std::path::PathBuf>,
) -> Result<String, String> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read the devices file {}: {e}", file.display()))?;
        devices.extend(crate::steer::parse_id_lines(&text));
    }
    if devices.is_empty() {
        return Err("relocate: the devices file names no device".into());
    }
    let body = |batch: &[String]| serde_json::json!({"to": to, "mode": mode, "devices": batch}).to_string();
    let (mut answer, mut sent, mut start) = (String::new(), 0, 0);
    while start < devices.len() {
        // Grow the batch while its body fits.
        let mut end = start + 1;
        let mut size = body(&devices[start..end]).len();
        while end < devices.len() && size + devices[end].len() + 4 < RELOCATE_BATCH {
            size += devices[end].len() + 4;
            end += 1;
        }
        answer = request(addr, "POST", ADMIN_RELOCATE_PATH, body(&devices[start..end]).as_bytes())?;
        sent += end - start;
        start = end;
    }
    let mut answer: serde_json::Value = serde_json::from_str(&answer).map_err(|e| format!("bad answer: {e}"))?;
    answer["relocating"] = sent.into();
    Ok(answer.to_string())
}

/// One request to the admin endpoint: the body of a `200` answer, or why it failed.
fn request(addr: &str, method: &str, target: &str, body: &[u8]) -> Result<String, String> {
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
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .and_then(|()| stream.write_all(body))
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
        Some(code) => {
            // An admin error's words, not its JSON.
            let why = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or(body);
            Err(fail(&format!("the server answered {code}"), &why))
        }
        None => Err(fail("bad answer", &"no status")),
    }
}
