//! Handing events to the `log` crate and to the agent's sink (behaviour.md, "Surfaces").

use crate::{Event, EventSink, Severity};

/// Log an event with the `log` crate and pass it to the sink, if any.
pub(crate) fn emit(sink: Option<&dyn EventSink>, event: Event) {
    let level = match event.severity() {
        Severity::Debug => log::Level::Debug,
        Severity::Info => log::Level::Info,
        Severity::Warning => log::Level::Warn,
    };
    log::log!(target: "scoutlb", level, "{event}");
    if let Some(sink) = sink {
        sink.event(&event);
    }
}
