//! The list this server hands out, kept in memory as a ready-made reply and replaced whole when
//! the membership or the loads change, so that answering `/scout/v1/servers` never waits for the
//! database.

use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use scoutlb::{Server, ServerEntry, ServerList};

use crate::db::{Member, Snapshot};
use crate::http::Reply;
use crate::load::Loads;
use crate::signing::ListSigner;

/// What `/scout/v1/servers` answers at one moment, and the membership it was made from.
#[derive(Debug)]
pub struct Published {
    /// The reply, body serialised once.
    pub reply: Reply,
    /// The snapshot it was made from; `None` before the first read of the database.
    pub snapshot: Option<Snapshot>,
    /// The loads it was made with; `None` before the first read of them.
    pub loads: Option<Loads>,
    /// When the reply was signed, when it is a signed list.
    pub signed_at: Option<SystemTime>,
}

/// The current reply of one server (`self_id`), shared by every connection.
#[derive(Debug)]
pub struct Listing {
    self_id: String,
    signer: Option<ListSigner>,
    current: RwLock<Arc<Published>>,
    /// Held while a new reply is made: the membership and the loads come from two threads.
    publishing: Mutex<()>,
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
                loads: None,
                signed_at: None,
            })),
            publishing: Mutex::new(()),
        }
    }

    /// The reply to serve now.
    pub fn current(&self) -> Arc<Published> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Serves `snapshot` (with the loads served) from now on, unless it is the membership already
    /// served (same servers, same generation) and, when signed, signed less than half its
    /// lifetime ago; returns whether the reply changed.
    pub fn publish(&self, snapshot: &Snapshot) -> bool {
        self.publish_at(Some(snapshot), None, SystemTime::now())
    }

    /// Serves `loads` in the list from now on, unless the entries' loads stay what they are;
    /// returns whether the reply changed.
    pub fn publish_loads(&self, loads: Loads) -> bool {
        self.publish_at(None, Some(loads), SystemTime::now())
    }

    /// Serves `snapshot` and `loads` (`None`: the ones served) as of `now`.
    fn publish_at(&self, snapshot: Option<&Snapshot>, loads: Option<Loads>, now: SystemTime) -> bool {
        let _publishing = self.publishing.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.current();
        let loads = loads.or_else(|| current.loads.clone());
        let Some(snapshot) = snapshot.or(current.snapshot.as_ref()) else {
            // Loads before the first list: kept for it, and `503` until then.
            let published = Arc::new(Published {
                reply: current.reply.clone(),
                snapshot: None,
                loads,
                signed_at: None,
            });
            *self.current.write().unwrap_or_else(|e| e.into_inner()) = published;
            return false;
        };
        let fresh = match (&self.signer, current.signed_at) {
            (Some(signer), Some(at)) => now.duration_since(at).unwrap_or_default() < signer.lifetime() / 2,
            _ => true,
        };
        let served =
            |s: &Snapshot, l: &Option<Loads>| l.as_ref().map(|l| (l.per_member(&s.servers), l.marks(&s.servers)));
        if fresh
            && current.snapshot.as_ref().is_some_and(|s| {
                s.generation == snapshot.generation
                    && s.servers == snapshot.servers
                    && served(s, &current.loads) == served(snapshot, &loads)
            })
        {
            if current.loads != loads {
                // Loads of servers not listed changed: nothing served changes, but keep them.
                let published = Arc::new(Published {
                    reply: current.reply.clone(),
                    snapshot: current.snapshot.clone(),
                    loads,
                    signed_at: current.signed_at,
                });
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = published;
            }
            return false;
        }
        let signer = self.signer.as_ref().map(|s| (s, now));
        let reply = match servers_json(snapshot, loads.as_ref(), &self.self_id, signer) {
            Ok(body) => Reply::json(body),
            Err(why) => {
                note!("cannot serve the server list: {why}; answering 503");
                Reply::text(503, &format!("no server list: {why}"))
            }
        };
        let published = Arc::new(Published {
            reply,
            snapshot: Some(snapshot.clone()),
            loads,
            signed_at: self.signer.as_ref().map(|_| now),
        });
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = published;
        true
    }

    /// The `load` the list served now gives this server; `None` while it carries no loads.
    pub fn own_load(&self) -> Option<u64> {
        let current = self.current();
        let snapshot = current.snapshot.as_ref()?;
        let loads = current.loads.as_ref()?.per_member(&snapshot.servers)?;
        let me = snapshot.servers.iter().position(|m| m.id == self.self_id)?;
        Some(loads[me])
    }

    /// Whether the list served now names servers other than this one.
    pub fn has_peers(&self) -> bool {
        self.current()
            .snapshot
            .as_ref()
            .is_some_and(|s| s.servers.iter().any(|m| m.id != self.self_id))
    }
}

/// The wire-format body for `snapshot` as served by server `self_id`, with the servers' weights
/// and, when every listed server counts its devices, their `loads`; made with the core's
/// [`ServerList`] and signed at the time given when there is a signer (the version is the
/// membership generation); a row whose address devices could not use is left out (and logged).
pub fn servers_json(
    snapshot: &Snapshot,
    loads: Option<&Loads>,
    self_id: &str,
    signer: Option<(&ListSigner, SystemTime)>,
) -> Result<Vec<u8>, String> {
    let marks = loads.map(|l| l.marks(&snapshot.servers));
    let loads = loads.and_then(|l| l.per_member(&snapshot.servers));
    let load_of = |i: usize| loads.as_ref().map(|l| l[i]);
    let marked = |i: usize| marks.as_ref().is_some_and(|m| m[i]);
    let entries =
        snapshot
            .servers
            .iter()
            .enumerate()
            .filter_map(|(i, member)| match entry(member, load_of(i), marked(i)) {
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

/// One row as a list entry, with its weight, `load` and draining mark.
fn entry(member: &Member, load: Option<u64>, draining: bool) -> scoutlb::Result<ServerEntry> {
    let mut entry = ServerEntry::new(Server::new(&member.host, member.port)?, Some(member.id.clone()));
    entry.weight = member.weight;
    entry.load = load;
    entry.draining = draining;
    Ok(entry)
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
            weight: None,
            load_window_ms: Some(600_000),
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
        let body = servers_json(&snap, None, "a", None).unwrap();
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
        let list = ServerList::from_json(&servers_json(&snap, None, "a", None).unwrap()).unwrap();
        assert_eq!(list.servers(), [Server::new("h", 2).unwrap()]);
        assert!(servers_json(&snapshot(vec![], 1), None, "a", None).is_err());
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

    fn loads(rows: &[(&str, u64)]) -> Loads {
        Loads::new(rows.iter().map(|(id, n)| ((*id).to_owned(), *n)))
    }

    #[test]
    fn every_entry_carries_its_load_and_weight() {
        let mut heavy = member("b", "h", 2);
        heavy.weight = Some(4);
        let snap = snapshot(vec![member("a", "h", 1), heavy], 5);
        let body = servers_json(&snap, Some(&loads(&[("a", 3), ("dead", 9)])), "a", None).unwrap();
        assert_eq!(
            String::from_utf8(body.clone()).unwrap(),
            r#"{"generation":5,"self":"a","servers":[{"host":"h","id":"a","load":3,"port":1},{"host":"h","id":"b","load":0,"port":2,"weight":4}]}"#
        );
        let list = ServerList::from_json(&body).unwrap();
        assert!(list.has_loads());
        // Weights without loads: before the loads are read.
        let body = servers_json(&snap, None, "a", None).unwrap();
        assert!(!String::from_utf8(body).unwrap().contains("load"));
        // A listed server that does not count: no loads at all.
        let mut old = member("c", "h", 3);
        old.load_window_ms = None;
        let mixed = snapshot(vec![member("a", "h", 1), old], 5);
        let body = servers_json(&mixed, Some(&loads(&[("a", 3)])), "a", None).unwrap();
        assert!(!String::from_utf8(body).unwrap().contains("load"));
    }

    #[test]
    fn new_loads_make_a_new_reply_of_the_same_generation() {
        let listing = Listing::new("a", None);
        // Loads read before the first list are kept for it.
        assert!(!listing.publish_loads(loads(&[("a", 1)])));
        assert_eq!(listing.current().reply.status, 503);
        let snap = snapshot(vec![member("a", "h", 1), member("b", "h", 2)], 2);
        assert!(listing.publish(&snap));
        let first = listing.current();
        let list = ServerList::from_json(&first.reply.body).unwrap();
        let served: Vec<_> = list.entries().iter().map(|e| e.load).collect();
        assert_eq!(served, [Some(1), Some(0)]);
        // The same loads, or a change of servers not listed: the same reply.
        assert!(!listing.publish_loads(loads(&[("a", 1)])));
        assert!(!listing.publish_loads(loads(&[("a", 1), ("gone", 4)])));
        assert_eq!(listing.current().reply.body, first.reply.body);
        // New loads: a new body, the same generation.
        assert!(listing.publish_loads(loads(&[("a", 1), ("b", 2)])));
        let list = ServerList::from_json(&listing.current().reply.body).unwrap();
        assert_eq!(list.generation(), Some(2));
        let served: Vec<_> = list.entries().iter().map(|e| e.load).collect();
        assert_eq!(served, [Some(1), Some(2)]);
        assert_eq!(listing.own_load(), Some(1));
        // A new membership keeps the loads served.
        assert!(listing.publish(&snapshot(vec![member("b", "h", 2)], 3)));
        assert_eq!(listing.own_load(), None, "a is not listed");
        let list = ServerList::from_json(&listing.current().reply.body).unwrap();
        assert_eq!(list.entries()[0].load, Some(2));
    }

    #[test]
    fn a_signed_list_signs_its_loads() {
        use scoutlb::Trust;
        use std::time::Duration;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k");
        let public = crate::signing::keygen(&key).unwrap();
        let signer = ListSigner::load(&[&key], Vec::new(), Duration::from_secs(100)).unwrap();
        let listing = Listing::new("a", Some(signer));
        let t0 = SystemTime::now();
        let one = snapshot(vec![member("a", "h", 1), member("b", "h", 2)], 7);
        assert!(listing.publish_at(Some(&one), Some(loads(&[("a", 5)])), t0));
        assert!(listing.publish_at(None, Some(loads(&[("a", 6)])), t0));
        let got = ServerList::from_json(&listing.current().reply.body).unwrap();
        let trust = Trust {
            keys: vec![public],
            min_version: 7,
            now: t0,
        };
        let checked = trust.check(&got).unwrap();
        assert_eq!(checked.proof().unwrap().version, 7);
        let served: Vec<_> = checked.entries().iter().map(|e| e.load).collect();
        assert_eq!(served, [Some(6), Some(0)], "the payload carries the loads");
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
        assert!(listing.publish_at(Some(&one), None, t0));
        assert!(!listing.publish_at(Some(&one), None, t0 + Duration::from_secs(49)));
        assert!(
            listing.publish_at(Some(&one), None, t0 + Duration::from_secs(51)),
            "signed again"
        );
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
