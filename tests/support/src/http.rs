//! Loopback HTTP test servers with a behaviour each (live, slow, silent, garbage, oversized, slow
//! drip, any status, HTTPS), a recorder of a client's events, and a test CA for HTTPS.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use scoutlb::{Event, Server};

/// What a test server does with a request.
#[derive(Clone)]
pub enum Behaviour {
    /// Answer 200 with this body (a server list).
    Body(Arc<Mutex<String>>),
    /// Answer with this HTTP status and an empty body.
    Status(u16),
    /// Answer 200 with a body that is not JSON.
    Garbage,
    /// Answer 200 with a valid-looking body larger than 1 MiB.
    Oversized,
    /// Answer 200 headers, then a byte every 300 ms, for ever.
    Drip,
    /// Accept the connection and never answer.
    Silent,
    /// Read the request, wait this long, then answer 200 with this body.
    Slow(Duration, Arc<Mutex<String>>),
    /// Answer with this status and this body.
    Fixed(u16, String),
    /// Answer with the current [`Answer`] (changed by the test between requests), recording each
    /// request's head.
    Steer(Arc<Mutex<Answer>>, Arc<Mutex<Vec<String>>>),
}

/// What a [`Behaviour::Steer`] server answers now.
#[derive(Clone, Debug, Default)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// Extra header lines, such as `Retry-After: 2`.
    pub headers: Vec<String>,
    /// The body.
    pub body: String,
}

/// A server whose answer the test changes, and the request heads it saw.
pub struct SteerServer {
    /// The server.
    pub server: TestServer,
    answer: Arc<Mutex<Answer>>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl SteerServer {
    /// A live server whose list names only itself (id `id`), answering 200 until told otherwise.
    pub fn live(id: &str) -> Self {
        let answer = Arc::new(Mutex::new(Answer::default()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let server = TestServer::start(Behaviour::Steer(Arc::clone(&answer), Arc::clone(&requests)));
        let steer = SteerServer {
            answer,
            requests,
            server,
        };
        steer.answer(200, &[], &list_body(&[(&steer.server.server(), id)], Some(id)));
        steer
    }

    /// Answer from now on with `status`, `headers` and `body`.
    pub fn answer(&self, status: u16, headers: &[&str], body: &str) {
        *self.answer.lock().unwrap() = Answer {
            status,
            headers: headers.iter().map(|h| h.to_string()).collect(),
            body: body.to_string(),
        };
    }

    /// The heads of the requests so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// A server on 127.0.0.1 running one behaviour until dropped.
pub struct TestServer {
    /// Its address.
    pub addr: SocketAddr,
    /// The connections it accepted.
    pub hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    body: Option<Arc<Mutex<String>>>,
}

/// A server list body naming `servers` (as `host:port`) with ids `s0`, `s1`, ..., and entry
/// `self_index` as `self`.
pub fn indexed_list_body(servers: &[String], self_index: usize) -> String {
    let entries: Vec<serde_json::Value> = servers
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let server: Server = s.parse().expect("a host:port address");
            serde_json::json!({"host": server.host(), "port": server.port(), "id": format!("s{i}")})
        })
        .collect();
    serde_json::json!({"servers": entries, "self": format!("s{self_index}")}).to_string()
}

/// A server list body naming `servers` with ids, and `self_id` as `self`.
pub fn list_body(servers: &[(&Server, &str)], self_id: Option<&str>) -> String {
    let entries: Vec<serde_json::Value> = servers
        .iter()
        .map(|(s, id)| serde_json::json!({"host": s.host(), "port": s.port(), "id": id}))
        .collect();
    serde_json::json!({"servers": entries, "self": self_id}).to_string()
}

impl TestServer {
    /// Start a server with `behaviour` on a free 127.0.0.1 port.
    pub fn start(behaviour: Behaviour) -> Self {
        Self::start_tls(behaviour, None)
    }

    /// Serve `behaviour` on a listener the caller bound (to hand out its address beforehand).
    pub fn on(listener: TcpListener, behaviour: Behaviour) -> Self {
        Self::serve(listener, behaviour, None)
    }

    /// Start a server; with a TLS config it speaks HTTPS.
    pub fn start_tls(behaviour: Behaviour, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        Self::serve(TcpListener::bind("127.0.0.1:0").unwrap(), behaviour, tls)
    }

    fn serve(listener: TcpListener, behaviour: Behaviour, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(AtomicUsize::new(0));
        let body = match &behaviour {
            Behaviour::Body(b) | Behaviour::Slow(_, b) => Some(Arc::clone(b)),
            _ => None,
        };
        let (stop2, hits2) = (Arc::clone(&stop), Arc::clone(&hits));
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                hits2.fetch_add(1, Ordering::SeqCst);
                let (b, s, tls) = (behaviour.clone(), Arc::clone(&stop2), tls.clone());
                thread::spawn(move || serve(conn, b, s, tls));
            }
        });
        TestServer { addr, hits, stop, body }
    }

    /// A live wire-format server whose list names only itself, with id `id`.
    pub fn live(id: &str) -> Self {
        let body = Arc::new(Mutex::new(String::new()));
        let s = Self::start(Behaviour::Body(Arc::clone(&body)));
        *body.lock().unwrap() = list_body(&[(&s.server(), id)], Some(id));
        s
    }

    /// A live server like [`TestServer::live`] over HTTPS with `pki`'s certificate.
    pub fn live_tls(id: &str, pki: &TestPki) -> Self {
        let body = Arc::new(Mutex::new(String::new()));
        let s = Self::start_tls(Behaviour::Body(Arc::clone(&body)), Some(pki.server_config.clone()));
        *body.lock().unwrap() = list_body(&[(&s.server(), id)], Some(id));
        s
    }

    /// A live server like [`TestServer::live`] that answers each request only after `delay`.
    pub fn live_after(id: &str, delay: Duration) -> Self {
        let body = Arc::new(Mutex::new(String::new()));
        let s = Self::start(Behaviour::Slow(delay, Arc::clone(&body)));
        *body.lock().unwrap() = list_body(&[(&s.server(), id)], Some(id));
        s
    }

    /// Replace the body this server answers with.
    pub fn set_body(&self, text: String) {
        *self.body.as_ref().expect("a body server").lock().unwrap() = text;
    }

    /// Its address as a scoutlb server.
    pub fn server(&self) -> Server {
        Server::from(self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
    }
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

fn serve(conn: TcpStream, behaviour: Behaviour, stop: Arc<AtomicBool>, tls: Option<Arc<rustls::ServerConfig>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    if let Behaviour::Silent = behaviour {
        while !stop.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(50));
        }
        return;
    }
    let raw = conn.try_clone().unwrap();
    let mut stream: Box<dyn Stream> = match tls {
        Some(cfg) => Box::new(rustls::StreamOwned::new(
            rustls::ServerConnection::new(cfg).unwrap(),
            conn,
        )),
        None => Box::new(conn),
    };
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let respond_with = |stream: &mut Box<dyn Stream>, status: u16, headers: &[String], body: &[u8]| {
        let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body);
        let _ = stream.flush();
    };
    let respond = |stream: &mut Box<dyn Stream>, status: u16, body: &[u8]| respond_with(stream, status, &[], body);
    match behaviour {
        Behaviour::Slow(delay, b) => {
            // The request was read; the answer comes late.
            thread::sleep(delay);
            let body = b.lock().unwrap().clone();
            respond(&mut stream, 200, body.as_bytes())
        }
        Behaviour::Body(b) => {
            let body = b.lock().unwrap().clone();
            respond(&mut stream, 200, body.as_bytes())
        }
        Behaviour::Status(s) => respond(&mut stream, s, b""),
        Behaviour::Fixed(s, body) => respond(&mut stream, s, body.as_bytes()),
        Behaviour::Garbage => respond(&mut stream, 200, b"<html>definitely not a server list</html>"),
        Behaviour::Oversized => {
            let mut body = br#"{"servers": [{"host": "a", "port": 1}], "pad": ""#.to_vec();
            body.resize((1 << 20) + 100, b'x');
            body.extend_from_slice(b"\"}");
            respond(&mut stream, 200, &body)
        }
        Behaviour::Drip => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{");
            for _ in 0..200 {
                if stop.load(Ordering::SeqCst) || stream.write_all(b" ").and_then(|_| stream.flush()).is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(300));
            }
        }
        Behaviour::Steer(answer, requests) => {
            let head = String::from_utf8_lossy(&req).into_owned();
            requests.lock().unwrap().push(head);
            let a = answer.lock().unwrap().clone();
            respond_with(&mut stream, a.status, &a.headers, a.body.as_bytes())
        }
        Behaviour::Silent => unreachable!(),
    }
    let _ = raw.shutdown(Shutdown::Write);
}

/// Collects a client's events.
#[derive(Clone, Default)]
pub struct Recorder(
    /// The events, in order.
    pub Arc<Mutex<Vec<Event>>>,
);

impl Recorder {
    /// A sink for `Client::builder().events(...)` that records into this recorder.
    pub fn sink(&self) -> impl Fn(&Event) + Send + Sync + 'static {
        let events = Arc::clone(&self.0);
        move |e: &Event| events.lock().unwrap().push(e.clone())
    }

    /// The kind and server of every event so far.
    pub fn kinds(&self) -> Vec<(&'static str, Option<Server>)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|e| (e.kind(), e.server().cloned()))
            .collect()
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap().clone()
    }
}

/// A test CA and a server certificate signed by it (for 127.0.0.1 and localhost by default).
pub struct TestPki {
    /// The CA certificate, PEM, for a client's `ca_file`.
    pub ca_pem: String,
    /// The CA certificate, DER (a `*.cer` file of a `ca_dir`).
    pub ca_der: Vec<u8>,
    /// The server's certificate, PEM (for a server that reads files, such as `scout-server --tls-cert`).
    pub cert_pem: String,
    /// The server's private key, PEM (PKCS#8).
    pub key_pem: String,
    /// The server side: its certificate signed by the CA, for [`TestServer::start_tls`].
    pub server_config: Arc<rustls::ServerConfig>,
}

impl Default for TestPki {
    fn default() -> Self {
        Self::new()
    }
}

impl TestPki {
    /// A CA and a server certificate for 127.0.0.1 and localhost.
    pub fn new() -> Self {
        Self::for_names(&["127.0.0.1", "localhost"])
    }

    /// A CA and a server certificate for these names (DNS names or IP addresses).
    pub fn for_names(names: &[&str]) -> Self {
        Self::build(names, false)
    }

    /// A CA and a server certificate for 127.0.0.1 and localhost that expired in 2001.
    pub fn expired() -> Self {
        Self::build(&["127.0.0.1", "localhost"], true)
    }

    fn build(names: &[&str], expired: bool) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        if expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        let cert = params.signed_by(&key, &ca).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server_config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        TestPki {
            ca_pem: ca.pem(),
            ca_der: ca.der().to_vec(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            server_config: Arc::new(server_config),
        }
    }
}

/// One raw HTTP/1.1 request with `Connection: close`: the status, the content type and the body,
/// or why it failed (nothing listening, no answer within 5 s, not HTTP).
pub fn http_request(addr: SocketAddr, method: &str, path: &str) -> Result<(u16, String, String), String> {
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("{method} http://{addr}{path}: {what}: {e}");
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| fail("connect", &e))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| fail("set a timeout", &e))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| fail("send", &e))?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).map_err(|e| fail("read", &e))?;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| fail("answer", &"no end of headers"))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| fail("answer", &"no status line"))?;
    let content_type = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    Ok((status, content_type, body.to_owned()))
}
