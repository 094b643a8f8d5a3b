//! A name server's answer read for its answer section (behaviour.md, "Start-up"; the event-loop
//! driver's own DNS): any bytes as the response to a query, with the query's id taken from the
//! bytes or not. Beyond "no panic": a message that hickory decodes whole as the response to that
//! query (same id and question with its class, no error code) is read with the same answer records, and its
//! later sections are readable; a message whose whole header has another id is never taken as ours.
#![no_main]

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};
use libfuzzer_sys::fuzz_target;
use scoutlb::fuzzing::dns_answer;

fuzz_target!(|input: (bool, &[u8])| {
    let (own_id, buf) = input;
    let id = match (own_id, buf) {
        (true, [a, b, ..]) => u16::from_be_bytes([*a, *b]),
        _ => 0x5151,
    };
    let read = dns_answer(buf, id);
    if buf.len() >= 12 && u16::from_be_bytes([buf[0], buf[1]]) != id {
        assert_eq!(read, Err(true), "a message with another id was taken");
    }
    let Ok(whole) = Message::from_vec(buf) else {
        return;
    };
    let ours = whole.metadata.id == id
        && whole.metadata.message_type == MessageType::Response
        && whole.metadata.response_code == ResponseCode::NoError
        && whole.queries.iter().all(|q| {
            q.name().to_ascii().eq_ignore_ascii_case("a.example.")
                && q.query_type() == RecordType::SRV
                && q.query_class() == DNSClass::IN
        });
    if ours {
        let answers: Vec<String> = whole.answers.iter().map(|r| format!("{r:?}")).collect();
        assert_eq!(read, Ok((answers, false)), "hickory reads this message whole");
    }
});
