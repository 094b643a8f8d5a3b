//! Python bindings for scoutlb.
