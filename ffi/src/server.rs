//! Servers as text: parsing an address, and the newline-separated lists handed to C.

use std::ffi::c_char;
use std::fmt::Write;

use scoutlb_core::Server;

use crate::args::{TextOut, arg_str};
use crate::status::{boundary, scoutlb_status};

/// Size of a buffer that holds any server as text (`host:port` or `[v6]:port`) with its NUL.
pub const SCOUTLB_SERVER_TEXT_SIZE: usize = 264;

/// A list of servers as text: one `host:port` (`[v6]:port`) per line, each line ending in `\n`.
pub(crate) fn lines(servers: &[Server]) -> String {
    let mut text = String::with_capacity(servers.iter().map(|s| s.host().len() + 9).sum());
    for s in servers {
        // Writing into a String cannot fail.
        let _ = writeln!(text, "{s}");
    }
    text
}

/// Parse a server address and write its canonical text, as the library compares and prints it.
///
/// `address` is `host`, `host:port`, `[v6]:port`, `[v6]` or a bare IP literal; `default_port` fills in
/// a missing port. Host names are lower-cased, IP literals canonicalised, so two addresses name the
/// same server exactly when their canonical texts are equal. Fails with `SCOUTLB_INVALID_SERVER`
/// and a message saying why. `*out_len` receives the size of the text including its NUL, also on
/// `SCOUTLB_BUFFER_TOO_SMALL`; `SCOUTLB_SERVER_TEXT_SIZE` bytes are always enough.
///
/// Thread safety: may be called from any thread.
///
/// # Safety
/// `address` is NULL or NUL-terminated; `buf` points to `len` writable bytes (or is NULL with `len`
/// 0); `out_len` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_server_parse(
    address: *const c_char,
    default_port: u16,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> scoutlb_status {
    boundary("scoutlb_server_parse", || {
        // SAFETY: forwarded from the caller.
        let address = unsafe { arg_str(address, "address") }?;
        // SAFETY: forwarded from the caller.
        let out = unsafe { TextOut::new(buf, len, out_len) }?;
        let server = Server::parse(address, default_port).map_err(scoutlb_core::Error::from)?;
        // SAFETY: forwarded from the caller.
        unsafe { out.write(&server.to_string()) }
    })
}
