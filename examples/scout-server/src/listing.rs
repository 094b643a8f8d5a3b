//! The list this server hands out, kept in memory as a ready-made reply and replaced whole when
//! the membership changes, so that answering `/scout/v1/servers` never waits for the database.

use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use scoutlb::{Server, ServerEntry, ServerList};

use crate::db::{Member, Snapshot};
use crate::http::Reply;
use crate::signing::ListSigner;

/// What `/scout/v1/servers` answers at one moment, and the membership it was made from.
#[derive(Debug)]
pub struct Published {
    /// The reply, body serialised once.
    pub reply: Reply,
    /// The snapshot it was made from; `None` before the first read of the database.
    pub snapshot: Option<Snapshot>,
    /// When the reply was signed, when it is a signed list.
    pub signed_at: Option<SystemTime>,
}

/// The current reply of one server (`self_id`), shared by every connection.
#[derive(Debug)]
pub struct Listing {
    self_id: String,
    signer: Option<ListSigner>,
    current: RwLock<Arc<Published>>,
}

impl Listing {
    /// Makes a listing that answers `503` until the first [`Listing::publish`], signing its
    /// lists with `signer` when there is one.
    pub fn new(self_id: &str, signer: Option<ListSigner>) -> Self {
        Listing {
            self_id: self_id.to_owned(),
            signer,
            current: RwLock::new(Arc::new(Published {
                reply: Reply::text(503, "database unavailable"),
                snapshot: None,
                signed_at: None,
            })),
        }
    }

    /// The reply to serve now.
    pub fn current(&self) -> Arc<Published> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Serves `snapshot` from now on, unless it is the membership already served (same servers,
    /// same generation) and, when signed, signed less than half its lifetime ago; returns
    /// whether the reply changed.
    pub fn publish(&self, snapshot: &Snapshot) -> bool {
        self.publish_at(snapshot, SystemTime::now())
    }

    fn publish_at(&self, snapshot: &Snapshot, now: SystemTime) -> bool {
        let current = self.current();
        let fresh = match (&self.signer, current.signed_at) {
            (Some(signer), Some(at)) => now.duration_since(at).unwrap_or_default() < signer.lifetime() / 2,
            _ => true,
        };
        if fresh
            && current
                .snapshot
                .as_ref()
                .is_some_and(|s| s.generation == snapshot.generation && s.servers == snapshot.servers)
        {
            return false;
        }
        let reply = match servers_json(snapshot, &self.self_id, self.signer.as_ref().map(|s| (s, now))) {
            Ok(body) => Reply::json(body),
            Err(why) => {
                note!("cannot serve the server list: {why}; answering 503");
                Reply::text(503, &format!("no server list: {why}"))
            }
        };
        let published = Arc::new(Published {
            reply,
            snapshot: Some(snapshot.clone()),
            signed_at: self.signer.as_ref().map(|_| now),
        });
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = published;
        true
    }

    /// Whether the list served now names servers other than this one.
    pub fn has_peers(&self) -> bool {
        self.current()
            .snapshot
            .as_ref()
            .is_some_and(|s| s.servers.iter().any(|m| m.id != self.self_id))
    }
}

/// The wire-format body for `snapshot` as served by server `self_id`, made with the core's
/// [`ServerList`] and signed at the time given when there is a signer (the version is the
/// membership generation); a row whose address devices could not use is left out (and logged).
pub fn servers_json(
    snapshot: &Snapshot,
    self_id: &str,
    signer: Option<(&ListSigner, SystemTime)>,
) -> Result<Vec<u8>, String> {
    let entries = snapshot.servers.iter().filter_map(|member| match entry(member) {
        Ok(entry) => Some(entry),
        Err(e) => {
            note!("leaving server {:?} out of the list: {e}", member.id);
            None
        }
    });
    let generation = u64::try_from(snapshot.generation).ok();
    let list = ServerList::new(entries.collect(), Some(self_id.to_owned()), generation).map_err(|e| e.to_string())?;
    let answer = match signer {
        Some((signer, now)) => signer.answer(&list, generation.unwrap_or(0), now),
        None => list.to_json(),
    };
    serde_json::to_vec(&answer).map_err(|e| e.to_string())
}

/// One row as a list entry.
fn entry(member: &Member) -> scoutlb::Result<ServerEntry> {
    Ok(ServerEntry::new(
        Server::new(&member.host, member.port)?,
        Some(member.id.clone()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, host: &str, port: u16) -> Member {
        Member {
            id: id.into(),
            host: host.into(),
            port,
            started_at: 0,
        }
    }

    fn snapshot(servers: Vec<Member>, generation: i64) -> Snapshot {
        Snapshot {
            servers,
            generation,
            expires_at: None,
        }
    }

    #[test]
    fn wire_format() {
        let snap = snapshot(vec![member("a", "10.0.0.11", 1), member("b\"", "10.0.0.11", 2)], 17);
        let body = servers_json(&snap, "a", None).unwrap();
        assert_eq!(
            String::from_utf8(body.clone()).unwrap(),
            r#"{"generation":17,"self":"a","servers":[{"host":"10.0.0.11","id":"a","port":1},{"host":"10.0.0.11","id":"b\"","port":2}]}"#
        );
        // What a device reads back is what was listed.
        let list = ServerList::from_json(&body).unwrap();
        assert_eq!(list.generation(), Some(17));
        assert_eq!(list.self_server(), Some(&Server::new("10.0.0.11", 1).unwrap()));
    }

    #[test]
    fn an_unusable_row_is_left_out() {
        let snap = snapshot(vec![member("bad", "no spaces allowed", 1), member("a", "h", 2)], 1);
        let list = ServerList::from_json(&servers_json(&snap, "a", None).unwrap()).unwrap();
        assert_eq!(list.servers(), [Server::new("h", 2).unwrap()]);
        assert!(servers_json(&snapshot(vec![], 1), "a", None).is_err());
    }

    #[test]
    fn publish_replaces_the_reply_only_when_the_membership_changes() {
        let listing = Listing::new("a", None);
        assert_eq!(listing.current().reply.status, 503);
        assert!(!listing.has_peers());

        let one = snapshot(vec![member("a", "h", 1)], 1);
        assert!(listing.publish(&one));
        let first = listing.current();
        assert_eq!(first.reply.status, 200);
        assert!(!listing.has_peers());
        assert!(!listing.publish(&one));
        assert!(Arc::ptr_eq(&first, &listing.current()));

        assert!(listing.publish(&snapshot(vec![member("a", "h", 1), member("b", "h", 2)], 2)));
        assert!(listing.has_peers());
        // Same servers, new generation (one left and came back): a new reply.
        assert!(listing.publish(&snapshot(vec![member("a", "h", 1), member("b", "h", 2)], 4)));
        assert!(!listing.publish(&snapshot(vec![member("a", "h", 1), member("b", "h", 2)], 4)));
    }

    #[test]
    fn a_signed_listing_signs_again_before_half_its_lifetime_is_gone() {
        use scoutlb::Trust;
        use std::time::Duration;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k");
        let public = crate::signing::keygen(&key).unwrap();
        let signer = ListSigner::load(&[&key], Vec::new(), Duration::from_secs(100)).unwrap();
        let listing = Listing::new("a", Some(signer));
        let t0 = SystemTime::now();
        let one = snapshot(vec![member("a", "h", 1)], 7);
        assert!(listing.publish_at(&one, t0));
        assert!(!listing.publish_at(&one, t0 + Duration::from_secs(49)));
        assert!(listing.publish_at(&one, t0 + Duration::from_secs(51)), "signed again");
        let body = &listing.current().reply.body;
        let got = ServerList::from_json(body).unwrap();
        let trust = Trust {
            keys: vec![public],
            min_version: 7,
            now: t0 + Duration::from_secs(120),
        };
        assert_eq!(
            trust.check(&got).unwrap().proof().unwrap().version,
            7,
            "valid until t0 + 151 s"
        );
    }
}
