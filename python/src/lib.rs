//! Python bindings for scoutlb: the native module `scoutlb._native`, re-exported by the `scoutlb` package.
//!
//! A thin translation of the core's API: argument conversion, error mapping, the GIL released
//! around every call into the core, Python callables as probe and event sink, and the core's
//! `log` records forwarded to the `logging` logger `scoutlb`.

mod callbacks;
mod client;
mod convert;
mod errors;
mod gate;
mod pending;
mod probe_error;
mod types;

use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// The native part of the `scoutlb` package.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    callbacks::install_log_bridge();
    // Before the interpreter finalizes, no callback may still be inside Python (the gate module).
    let at_exit = wrap_pyfunction!(gate::at_exit, m)?;
    m.py().import("atexit")?.call_method1("register", (at_exit,))?;
    errors::register(m)?;
    m.add_class::<types::Server>()?;
    m.add_class::<types::Attempt>()?;
    m.add_class::<types::Connected>()?;
    m.add_class::<types::RebalancePlan>()?;
    m.add_class::<types::Event>()?;
    m.add_class::<client::Client>()?;
    m.add_class::<callbacks::ProbeAttempt>()?;
    m.add_class::<pending::PendingCall>()?;
    m.add_function(wrap_pyfunction!(client::failover_order, m)?)?;
    // A test aid, kept out of `__all__` and the stubs: set as a plain attribute.
    m.setattr("_panic_for_test", wrap_pyfunction!(client::_panic_for_test, m)?)?;
    m.add("DEFAULT_PORT", scoutlb::DEFAULT_PORT)?;
    m.add("MAX_ENTRIES", scoutlb::MAX_ENTRIES)?;
    m.add("DEVICE_ID_HEADER", scoutlb::DEVICE_ID_HEADER)?;
    m.add("CONFIG_KEYS", PyTuple::new(m.py(), scoutlb::KEYS)?)?;
    m.add("__version__", scoutlb::VERSION)?;
    Ok(())
}
