//! An agent's poll(2) loop for the event-loop driver's tests.

use std::os::fd::RawFd;
use std::time::Duration;

use scoutlb::{Interest, Watch};

/// Wait with poll(2) until one of `watches` (or of `readable`, each for reading) is ready, or
/// `timeout` passed; which of them are ready, `watches` first.
pub fn poll(watches: &[Watch], readable: &[RawFd], timeout: Duration) -> Vec<bool> {
    let mut fds: Vec<libc::pollfd> = watches
        .iter()
        .map(|w| (w.fd, w.interest))
        .chain(readable.iter().map(|fd| (*fd, Interest::Read)))
        .map(|(fd, interest)| libc::pollfd {
            fd,
            events: if interest == Interest::Read {
                libc::POLLIN
            } else {
                libc::POLLOUT
            },
            revents: 0,
        })
        .collect();
    let ms = libc::c_int::try_from(timeout.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
    // SAFETY: `fds` is a valid array of `fds.len()` pollfd structures for the whole call.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    assert!(n >= 0 || std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted);
    fds.iter().map(|f| f.revents != 0).collect()
}

/// Drive `call` with [`poll`] until it is done (at most a minute); how many times the loop woke.
pub fn drive(call: &mut scoutlb::PendingCall) -> usize {
    let until = std::time::Instant::now() + Duration::from_secs(60);
    let mut wakes = 0;
    while !call.is_done() {
        assert!(std::time::Instant::now() < until, "the call never ended");
        let timeout = call.timeout().expect("a call that is not done has a timeout");
        poll(&call.watches(), &[], timeout);
        wakes += 1;
        call.process();
    }
    wakes
}
