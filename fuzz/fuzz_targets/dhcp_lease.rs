//! The lease readers of DHCP option 222 (`scoutlb::dhcp_lease::read_lease`) on arbitrary file contents.
//!
//! Properties: reading never panics; an option found names at most `MAX_SERVERS` servers, without
//! repeats, or an OU; the value parser accepts again the text of the servers it found.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scoutlb::dhcp_lease::{self, LeaseOption, MAX_SERVERS};

fuzz_target!(|bytes: &[u8]| {
    if let Ok(LeaseOption::Found(contact)) = dhcp_lease::read_lease(bytes, 22123) {
        assert!(contact.servers.len() <= MAX_SERVERS);
        assert!(!contact.servers.is_empty() || contact.ou.is_some());
        for (i, s) in contact.servers.iter().enumerate() {
            assert!(!contact.servers[..i].contains(s), "{s} twice");
        }
        if !contact.servers.is_empty() {
            let text: Vec<String> = contact.servers.iter().map(ToString::to_string).collect();
            let again = dhcp_lease::parse_value(text.join(",").as_bytes(), 22123).unwrap();
            assert_eq!(again.servers, contact.servers);
        }
    }
});
