//! Log lines on stderr, each with the time and the server id: this is a binary, printing is fine.

use std::fmt;
use std::io::Write;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// The id shown on every line, set once the id is known.
static NAME: OnceLock<String> = OnceLock::new();

/// Sets the id shown on every later line.
pub fn set_name(name: &str) {
    let _ = NAME.set(name.to_owned());
}

/// Writes one line: `<unix time> scout-server[<id>]: <message>` (no `[<id>]` before it is known).
pub fn write(message: fmt::Arguments<'_>) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let name = NAME.get().map_or(String::new(), |name| format!("[{name}]"));
    let _ = writeln!(
        std::io::stderr().lock(),
        "{}.{:03} scout-server{name}: {message}",
        now.as_secs(),
        now.subsec_millis()
    );
}
