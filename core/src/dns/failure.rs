//! The DNS failures in words, the same for the blocking lookup and the event-loop driver's.

use std::time::Duration;

use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::RecordType;

use crate::{DnsFailure, DnsFailureKind};

/// No answer came within `timeout`.
pub(crate) fn timed_out(timeout: Duration) -> DnsFailure {
    DnsFailure::new(
        DnsFailureKind::TimedOut,
        format!(
            "timed out after {} ms (no answer from the name servers)",
            timeout.as_millis()
        ),
    )
}

/// A failure of kind `Other` with `detail`.
pub(crate) fn other(detail: String) -> DnsFailure {
    DnsFailure::new(DnsFailureKind::Other, detail)
}

/// The name exists but has no `rtype` record (the answer's code was `code`).
pub(crate) fn no_records(rtype: RecordType, code: ResponseCode) -> DnsFailure {
    DnsFailure::new(
        DnsFailureKind::NoRecords,
        format!(
            "no {rtype} record ({}): the name exists but has no such record",
            code_name(code)
        ),
    )
}

/// The failure an answer's response code names; `None` for NOERROR.
pub(crate) fn answered(code: ResponseCode) -> Option<DnsFailure> {
    let (kind, detail) = match code {
        ResponseCode::NoError => return None,
        ResponseCode::NXDomain => (
            DnsFailureKind::NoSuchName,
            "NXDOMAIN: the name does not exist".to_string(),
        ),
        ResponseCode::ServFail => (
            DnsFailureKind::ServerFailure,
            "SERVFAIL: the name server could not answer".to_string(),
        ),
        ResponseCode::Refused => (
            DnsFailureKind::ServerFailure,
            "REFUSED: the name server refused the query".to_string(),
        ),
        code => (
            DnsFailureKind::ServerFailure,
            format!("{}: the name server answered with an error", code_name(code)),
        ),
    };
    Some(DnsFailure::new(kind, detail))
}

/// The DNS response code as written in zone files and `dig` output.
fn code_name(code: ResponseCode) -> String {
    match code {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        other => format!("response code {} ({})", u16::from(other), other.to_str()),
    }
}
