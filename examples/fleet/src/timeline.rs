//! Series over time: devices per server sampled every 100 ms, requests per 100 ms from the proxies.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::cluster::{self, Cluster};
use crate::fleet::Placement;
use crate::proxy::BUCKET;

/// One line of a picture: a name and its points (seconds, value).
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// (seconds since the start, value).
    pub points: Vec<(f64, f64)>,
}

/// Samples devices per server every 100 ms until stopped.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<(f64, Vec<i64>)>>,
}

impl Sampler {
    /// Starts sampling `placement`; times are counted from `t0`.
    pub fn start(placement: Arc<Placement>, t0: Instant) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = thread::spawn(move || {
            let mut samples = Vec::new();
            let mut next = Instant::now();
            while !flag.load(Ordering::Relaxed) {
                samples.push((t0.elapsed().as_secs_f64(), placement.snapshot()));
                next += BUCKET;
                thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            samples
        });
        Sampler { stop, handle }
    }

    /// Stops sampling; one series per server, then the devices of the fleet's `total` connected
    /// to none ([`crate::chart::OFFLINE`]).
    pub fn finish(self, k: usize, total: usize) -> Vec<Series> {
        self.stop.store(true, Ordering::Relaxed);
        let samples = self.handle.join().unwrap_or_default();
        let mut series: Vec<Series> = (0..k)
            .map(|i| Series {
                name: format!("server {}", cluster::name(i)),
                points: samples.iter().map(|(t, v)| (*t, v[i] as f64)).collect(),
            })
            .collect();
        series.push(Series {
            name: crate::chart::OFFLINE.to_owned(),
            points: samples
                .iter()
                .map(|(t, v)| (*t, (total as i64 - v.iter().sum::<i64>()).max(0) as f64))
                .collect(),
        });
        series
    }
}

/// Requests per 100 ms of every server, from the start up to `until`.
pub fn requests(cluster: &Cluster, until: Duration) -> Vec<Series> {
    (0..cluster.len())
        .map(|i| Series {
            name: format!("server {}", cluster::name(i)),
            points: buckets_to_points(&cluster.traffic(i).series(until)),
        })
        .collect()
}

/// All servers' requests per 100 ms added up, from the start up to `until`.
pub fn total_requests(cluster: &Cluster, until: Duration) -> Vec<u32> {
    let mut total: Vec<u32> = Vec::new();
    for i in 0..cluster.len() {
        for (j, v) in cluster.traffic(i).series(until).into_iter().enumerate() {
            if total.len() <= j {
                total.push(0);
            }
            total[j] += v;
        }
    }
    total
}

/// Points of a bucket series, each bucket drawn at its middle.
pub fn buckets_to_points(buckets: &[u32]) -> Vec<(f64, f64)> {
    let width = BUCKET.as_secs_f64();
    buckets
        .iter()
        .enumerate()
        .map(|(j, &v)| ((j as f64 + 0.5) * width, f64::from(v)))
        .collect()
}
