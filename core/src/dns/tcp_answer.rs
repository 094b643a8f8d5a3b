//! A second look at a lookup over TCP, reading the answer section even when the rest of the
//! message cannot be decoded (behaviour.md, "Start-up").
//!
//! dnsmasq 2.90 answers a query of about 500 SRV records or more over TCP with a message whose
//! additional section holds compression pointers past 16 KiB, which DNS cannot express: the whole
//! message does not decode, hickory drops it and waits out the timeout, and the lookup looked like
//! a silent name server. The answer section before it is sound, and it is all a lookup needs.

use std::net::SocketAddr;

use hickory_resolver::proto::op::{Header, Message, MessageType, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, Record, RecordType};
use hickory_resolver::proto::serialize::binary::{BinDecodable, BinDecoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{DnsFailure, DnsFailureKind};

/// The answer section of a response, and why the sections after it could not be read, if so.
pub(crate) struct Answers {
    /// The records of the answer section.
    pub records: Vec<Record>,
    /// The decoding error met in the authority or additional section.
    pub unreadable: Option<String>,
}

/// Why a second look found nothing: the server was not reached, or its answer failed.
pub(crate) enum Failed {
    /// No connection, or it broke: says nothing that a timeout does not say better.
    Unreachable,
    /// The server answered, and the answer names the failure.
    Answer(DnsFailure),
}

/// Ask `server` over TCP for the `rtype` records of `name` (recursion desired).
pub(crate) async fn ask(server: SocketAddr, name: &Name, rtype: RecordType) -> Result<Answers, Failed> {
    let mut query = Message::query();
    query.add_query(Query::query(name.clone(), rtype));
    query.metadata.recursion_desired = true;
    let bytes = query.to_vec().map_err(|e| {
        Failed::Answer(DnsFailure::new(
            DnsFailureKind::Other,
            format!("cannot encode the query: {e}"),
        ))
    })?;
    let io = |e: std::io::Error| {
        log::debug!(target: "scoutlb", "name server {server} over TCP: {e}");
        Failed::Unreachable
    };
    let mut stream = tokio::net::TcpStream::connect(server).await.map_err(io)?;
    let len = u16::try_from(bytes.len()).expect("one question fits a DNS message");
    stream.write_all(&len.to_be_bytes()).await.map_err(io)?;
    stream.write_all(&bytes).await.map_err(io)?;
    let len = stream.read_u16().await.map_err(io)?;
    let mut buf = vec![0; usize::from(len)];
    stream.read_exact(&mut buf).await.map_err(io)?;
    read_answers(&buf, query.metadata.id).map_err(|f| Failed::Answer(f.context(format_args!("{server} over TCP"))))
}

/// Decode the header, the questions and the answer section; only try the sections after it.
fn read_answers(buf: &[u8], id: u16) -> Result<Answers, DnsFailure> {
    let malformed = |e: &dyn std::fmt::Display| {
        DnsFailure::new(
            DnsFailureKind::Other,
            format!("the name server's answer cannot be decoded: {e}"),
        )
    };
    let mut decoder = BinDecoder::new(buf);
    let header = Header::read(&mut decoder).map_err(|e| malformed(&e))?;
    if header.metadata.id != id || header.metadata.message_type != MessageType::Response {
        return Err(malformed(&"it is not the response to the query"));
    }
    let code = header.metadata.response_code;
    if code != ResponseCode::NoError {
        let kind = if code == ResponseCode::NXDomain {
            DnsFailureKind::NoSuchName
        } else {
            DnsFailureKind::ServerFailure
        };
        return Err(DnsFailure::new(
            kind,
            format!("{code}: the name server answered with an error"),
        ));
    }
    for _ in 0..header.counts.queries {
        Query::read(&mut decoder).map_err(|e| malformed(&e))?;
    }
    let records = (0..header.counts.answers)
        .map(|_| Record::read(&mut decoder).map_err(|e| malformed(&e)))
        .collect::<Result<Vec<_>, _>>()?;
    let rest = u32::from(header.counts.authorities) + u32::from(header.counts.additionals);
    let unreadable = (0..rest).find_map(|_| Record::read(&mut decoder).err().map(|e| e.to_string()));
    Ok(Answers { records, unreadable })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response header with `answers` answer records and nothing after it.
    fn header(id: u16, answers: u16) -> Vec<u8> {
        let mut b = id.to_be_bytes().to_vec();
        b.extend_from_slice(&[0x81, 0x80, 0, 0]);
        b.extend_from_slice(&answers.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 0]);
        b
    }

    #[test]
    fn an_answer_section_that_cannot_be_decoded_is_named_so() {
        let mut buf = header(7, 1);
        buf.extend_from_slice(&[0x40, 1, 2, 3]); // label type 01: reserved, as dnsmasq's broken pointers give
        let failure = read_answers(&buf, 7).err().expect("refused");
        assert!(failure.detail.contains("cannot be decoded"), "{failure}");
        let failure = read_answers(&header(8, 0), 7).err().expect("wrong id");
        assert!(failure.detail.contains("not the response"), "{failure}");
        assert!(read_answers(&header(7, 0), 7).unwrap().records.is_empty());
    }
}
