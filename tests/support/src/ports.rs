//! Loopback ports for every way a server can fail to answer: free, refused, unreachable (SYNs
//! dropped), a listener that accepts and drops, and a name server that never answers.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use scoutlb::Server;

/// A port free on 127.0.0.1 for both UDP and TCP at the time of the call.
pub fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket on loopback");
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A loopback port whose SYNs are dropped: a listener with `listen(0)` whose one backlog slot is
/// taken by a connection never accepted. Keep the guard alive while the port is used.
pub fn unreachable() -> (Server, Unreachable) {
    let (server, guard) = unchecked_unreachable();
    let probe = TcpStream::connect_timeout(&guard.addr, Duration::from_millis(200));
    assert!(probe.is_err(), "the full backlog did not drop a SYN");
    (server, guard)
}

/// `n` ports as [`unreachable()`] gives one, checked once (a check costs 200 ms): a long dead list.
pub fn unreachable_many(n: usize) -> Vec<(Server, Unreachable)> {
    let ports: Vec<(Server, Unreachable)> = (0..n).map(|_| unchecked_unreachable()).collect();
    if let Some((_, guard)) = ports.last() {
        let probe = TcpStream::connect_timeout(&guard.addr, Duration::from_millis(200));
        assert!(probe.is_err(), "the full backlog did not drop a SYN");
    }
    ports
}

fn unchecked_unreachable() -> (Server, Unreachable) {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    // With a backlog of 0 the kernel queues one connection; every later SYN is dropped.
    let filler = TcpStream::connect(addr).unwrap();
    (
        Server::from(addr),
        Unreachable {
            addr,
            _socket: socket,
            _filler: filler,
        },
    )
}

/// Keeps an [`unreachable()`] port unreachable.
pub struct Unreachable {
    addr: SocketAddr,
    _socket: socket2::Socket,
    _filler: TcpStream,
}

/// A loopback port where nothing listens: connections are refused.
pub fn refused() -> Server {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    Server::from(l.local_addr().unwrap())
}

/// A UDP socket that reads queries and never answers: a name server that times out.
pub fn silent_nameserver() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").expect("bind")
}

/// A TCP listener on `ip` (any 127.0.0.0/8 address) that accepts and drops connections, until the test ends.
pub fn listener(ip: Ipv4Addr) -> (TcpListener, u16) {
    let l = TcpListener::bind((ip, 0)).expect("bind a loopback listener");
    let port = l.local_addr().unwrap().port();
    (l, port)
}

/// A loopback port on which nothing listens (connections are refused).
pub fn closed_port(ip: Ipv4Addr) -> u16 {
    let l = TcpListener::bind((ip, 0)).expect("bind");
    l.local_addr().unwrap().port()
}
