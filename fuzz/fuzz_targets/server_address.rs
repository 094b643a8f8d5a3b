//! `Server::parse` and `ManagerLoadBalancer::parse` on arbitrary text and default ports: an
//! address that parses prints, and the printed form parses back to an equal server (with any
//! default port, since it names its port); `Server::new` on its parts gives it again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scoutlb::{MAX_HOST_LEN, ManagerLoadBalancer, Server};

fuzz_target!(|input: (u16, &str)| {
    let (default_port, text) = input;
    if let Ok(server) = Server::parse(text, default_port) {
        let printed = server.to_string();
        let other_port = default_port.wrapping_add(1).max(1);
        assert_eq!(
            Server::parse(&printed, other_port).ok().as_ref(),
            Some(&server),
            "printed as {printed}"
        );
        assert_eq!(Server::new(server.host(), server.port()).ok().as_ref(), Some(&server));
        assert_ne!(server.port(), 0);
        assert!(server.host().len() <= MAX_HOST_LEN, "host {:?}", server.host());
        match server.ip() {
            Some(ip) => assert_eq!(ip.to_canonical().to_string(), server.host()),
            None => assert_eq!(server.host(), server.host().to_ascii_lowercase()),
        }
        assert_eq!(printed.parse::<Server>().ok().as_ref(), Some(&server));
    }
    if let Ok(entry) = ManagerLoadBalancer::parse(text, default_port) {
        let printed = entry.to_string();
        let other_port = default_port.wrapping_add(1).max(1);
        assert_eq!(
            ManagerLoadBalancer::parse(&printed, other_port).ok().as_ref(),
            Some(&entry),
            "printed as {printed}"
        );
    }
});
