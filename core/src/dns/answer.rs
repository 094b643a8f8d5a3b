//! A name server's answer to one question, read for its answer section even when the sections
//! after it cannot be decoded (behaviour.md, "Start-up").
//!
//! dnsmasq 2.90 answers a query of about 500 SRV records or more over TCP with a message whose
//! additional section holds compression pointers past 16 KiB, which DNS cannot express: the whole
//! message does not decode, and a resolver that drops it sees a silent name server. The answer
//! section before it is sound, and it is all a lookup needs.

use hickory_resolver::proto::op::{Header, Message, MessageType, Query};
use hickory_resolver::proto::rr::Record;
use hickory_resolver::proto::serialize::binary::{BinDecodable, BinDecoder};

use super::failure::{answered, other};
use crate::DnsFailure;

/// The answer section of a response, and why the sections after it could not be read, if so.
pub(crate) struct Answers {
    /// The records of the answer section.
    pub records: Vec<Record>,
    /// The decoding error met in the authority or additional section.
    pub unreadable: Option<String>,
    /// The name server marked the answer truncated (too large for UDP).
    pub truncated: bool,
}

/// Why a response was not read.
#[derive(Debug)]
pub(crate) enum Unread {
    /// It is not the response to the query (another id, another question): a late or forged
    /// one, which a resolver ignores.
    NotOurs(DnsFailure),
    /// It is, and it says the lookup failed, or cannot be decoded.
    Failed(DnsFailure),
}

impl Unread {
    /// The failure, whichever it is.
    pub(crate) fn failure(self) -> DnsFailure {
        match self {
            Unread::NotOurs(f) | Unread::Failed(f) => f,
        }
    }
}

/// The query message of `question` (recursion desired): its id and its bytes.
pub(crate) fn query(question: &Query) -> Result<(u16, Vec<u8>), DnsFailure> {
    let mut message = Message::query();
    message.add_query(question.clone());
    message.metadata.recursion_desired = true;
    let bytes = message
        .to_vec()
        .map_err(|e| other(format!("cannot encode the query for {question}: {e}")))?;
    Ok((message.metadata.id, bytes))
}

/// Decode the header, the questions and the answer section of the response `buf` to the query
/// `id` of `question`; only try the sections after it.
pub(crate) fn read(buf: &[u8], id: u16, question: &Query) -> Result<Answers, Unread> {
    let malformed =
        |e: &dyn std::fmt::Display| Unread::Failed(other(format!("the name server's answer cannot be decoded: {e}")));
    let not_ours = |why: &dyn std::fmt::Display| Unread::NotOurs(other(format!("it sent {why}")));
    let mut decoder = BinDecoder::new(buf);
    let header = Header::read(&mut decoder).map_err(|e| malformed(&e))?;
    if header.metadata.id != id || header.metadata.message_type != MessageType::Response {
        return Err(not_ours(&"a message that is not the response to the query"));
    }
    if let Some(failure) = answered(header.metadata.response_code) {
        return Err(Unread::Failed(failure));
    }
    for _ in 0..header.counts.queries {
        let asked = Query::read(&mut decoder).map_err(|e| malformed(&e))?;
        let same = asked.name().eq_ignore_root(question.name())
            && asked.query_type() == question.query_type()
            && asked.query_class() == question.query_class();
        if !same {
            return Err(not_ours(&format_args!(
                "the answer to another question ({asked}, not {question})"
            )));
        }
    }
    let records = (0..header.counts.answers)
        .map(|_| Record::read(&mut decoder).map_err(|e| malformed(&e)))
        .collect::<Result<Vec<_>, _>>()?;
    let rest = u32::from(header.counts.authorities) + u32::from(header.counts.additionals);
    let unreadable = (0..rest).find_map(|_| Record::read(&mut decoder).err().map(|e| e.to_string()));
    Ok(Answers {
        records,
        unreadable,
        truncated: header.metadata.truncation,
    })
}

/// [`read`] of `buf` for query `id` of the SRV records of `a.example.`, for the fuzz target (the
/// records in their Debug form: hickory's Display of some record data fails).
#[doc(hidden)]
pub fn fuzz_read(buf: &[u8], id: u16) -> Result<(Vec<String>, bool), bool> {
    use hickory_resolver::proto::rr::{Name, RecordType};
    let question = Query::query(Name::from_ascii("a.example.").expect("a valid name"), RecordType::SRV);
    match read(buf, id, &question) {
        Ok(a) => Ok((
            a.records.iter().map(|r| format!("{r:?}")).collect(),
            a.unreadable.is_some(),
        )),
        Err(Unread::NotOurs(_)) => Err(true),
        Err(Unread::Failed(_)) => Err(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::proto::rr::{Name, RecordType};

    fn question() -> Query {
        Query::query(Name::from_ascii("a.example.").unwrap(), RecordType::SRV)
    }

    /// A response header with `answers` answer records, no question, and nothing after it.
    fn header(id: u16, answers: u16) -> Vec<u8> {
        let mut b = id.to_be_bytes().to_vec();
        b.extend_from_slice(&[0x81, 0x80, 0, 0]);
        b.extend_from_slice(&answers.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 0]);
        b
    }

    #[test]
    fn an_answer_section_that_cannot_be_decoded_is_named_so() {
        let q = question();
        let mut buf = header(7, 1);
        buf.extend_from_slice(&[0x40, 1, 2, 3]); // label type 01: reserved, as dnsmasq's broken pointers give
        let failure = read(&buf, 7, &q).err().expect("refused");
        assert!(
            matches!(&failure, Unread::Failed(f) if f.detail.contains("cannot be decoded")),
            "{failure:?}"
        );
        let failure = read(&header(8, 0), 7, &q).err().expect("wrong id");
        assert!(
            matches!(&failure, Unread::NotOurs(f) if f.detail.contains("not the response")),
            "{failure:?}"
        );
        assert!(read(&header(7, 0), 7, &q).unwrap().records.is_empty());
    }

    #[test]
    fn an_answer_to_another_question_is_refused() {
        let q = question();
        let (id, mut bytes) = query(&Query::query(Name::from_ascii("b.example.").unwrap(), RecordType::SRV)).unwrap();
        bytes[2] |= 0x80; // the query, turned into a response
        let failure = read(&bytes, id, &q).err().expect("another question");
        assert!(
            matches!(&failure, Unread::NotOurs(f) if f.detail.contains("another question")),
            "{failure:?}"
        );
    }
}
