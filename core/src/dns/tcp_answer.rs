//! A second look at a lookup over TCP, its answer read by [`super::answer`] (behaviour.md,
//! "Start-up"): the answer section counts even when the sections after it cannot be decoded.

use std::net::SocketAddr;

use hickory_resolver::proto::op::Query;
use hickory_resolver::proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::answer::{self, Answers};
use crate::DnsFailure;

/// Why a second look found nothing: the server was not reached, or its answer failed.
pub(crate) enum Failed {
    /// No connection, or it broke: says nothing that a timeout does not say better.
    Unreachable,
    /// The server answered, and the answer names the failure.
    Answer(DnsFailure),
}

/// Ask `server` over TCP for the `rtype` records of `name` (recursion desired).
pub(crate) async fn ask(server: SocketAddr, name: &Name, rtype: RecordType) -> Result<Answers, Failed> {
    let question = Query::query(name.clone(), rtype);
    let (id, bytes) = answer::query(&question).map_err(Failed::Answer)?;
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
    answer::read(&buf, id, &question)
        .map_err(|f| Failed::Answer(f.failure().context(format_args!("{server} over TCP"))))
}
