//! `scoutlb_config`: a parsed configuration plus the callbacks a client is created with.

use std::ffi::{c_char, c_void};

use scoutlb_core::Config;
use serde_json::{Map, Value};

use crate::args::{arg_out, arg_str};
use crate::event::{UserData, scoutlb_event_callback, scoutlb_severity};
use crate::handle::{self, Handle};
use crate::probe::scoutlb_probe_callback;
use crate::status::{Failure, boundary, catch, scoutlb_status};

/// A client configuration: the JSON configuration keys (behaviour.md) plus the event and probe callbacks.
///
/// Created by `scoutlb_config_new`, owned by the caller, released with `scoutlb_config_free`.
/// A client copies what it needs at `scoutlb_client_new`, so the config may be freed or reused
/// right after. Not thread-safe: do not use one config from several threads at once. A NULL config
/// gives `SCOUTLB_NULL_ARGUMENT` (`scoutlb_config_free(NULL)` does nothing).
#[allow(non_camel_case_types)]
pub struct scoutlb_config {
    _private: [u8; 0],
}

/// What a `scoutlb_config` handle points to.
pub(crate) struct ConfigHandle {
    /// The keys as given (JSON text or the typed setters of `config_builder`), re-parsed whole
    /// on every change so that the order of the setter calls does not matter.
    pub settings: Map<String, Value>,
    /// `settings` parsed by the core; the rules between keys are checked at `scoutlb_client_new`.
    pub config: Config,
    pub events: Option<(
        unsafe extern "C" fn(*mut c_void, *const crate::event::scoutlb_event),
        UserData,
        scoutlb_severity,
    )>,
    pub probe: Option<(
        unsafe extern "C" fn(*mut c_void, *const crate::probe::scoutlb_probe_params) -> u32,
        UserData,
    )>,
    pub seed: Option<u64>,
}

impl ConfigHandle {
    /// A handle for parsed settings, without callbacks.
    pub fn new(settings: Map<String, Value>, config: Config) -> Self {
        ConfigHandle {
            settings,
            config,
            events: None,
            probe: None,
            seed: None,
        }
    }
}

// SAFETY: every `scoutlb_config` pointer handed to C comes from `handle::into_raw` of a `ConfigHandle`.
unsafe impl Handle for scoutlb_config {
    type Inner = ConfigHandle;
    const NAME: &'static str = "config";
}

/// Parse a configuration from JSON text (behaviour.md, "Configuration keys") into a new `scoutlb_config`.
///
/// `json` is a NUL-terminated UTF-8 JSON object; every key is optional, an unknown key or a wrong
/// type fails with `SCOUTLB_CONFIG` and a message naming the key. On success `*config_out`
/// receives a config the caller frees with `scoutlb_config_free`.
///
/// Thread safety: may be called from any thread.
///
/// # Safety
/// `json` is NULL or a NUL-terminated string; `config_out` is NULL or a valid pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_config_new(
    json: *const c_char,
    config_out: *mut *mut scoutlb_config,
) -> scoutlb_status {
    boundary("scoutlb_config_new", || {
        // SAFETY: the caller passes a NUL-terminated string or NULL.
        let json = unsafe { arg_str(json, "json") }?;
        let out = arg_out(config_out, "config_out")?;
        let config = Config::from_json(json)?;
        // The core accepted the text, so it is a JSON object; the typed setters change it later.
        let settings = match serde_json::from_str(json) {
            Ok(Value::Object(settings)) => settings,
            _ => Map::new(),
        };
        let handle = handle::into_raw(ConfigHandle::new(settings, config));
        // SAFETY: `out` was checked not NULL; the caller guarantees it is valid.
        unsafe { out.write(handle) };
        Ok(())
    })
}

/// Release a config; `scoutlb_config_free(NULL)` does nothing.
///
/// Clients created from it are not affected. Thread safety: not while the config is in use elsewhere.
///
/// # Safety
/// `config` is NULL or came from `scoutlb_config_new` and was not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_config_free(config: *mut scoutlb_config) {
    if config.is_null() {
        return;
    }
    // Not `boundary`: a function without a status keeps the last error of the call before it.
    let _ = catch("scoutlb_config_free", || {
        // SAFETY: the caller passes a config from `scoutlb_config_new`, freed once.
        drop(unsafe { handle::from_raw(config) });
        Ok(())
    });
}

/// Deliver the events of clients created from this config to `callback`, from `min_severity` up.
///
/// `min_severity` is a `scoutlb_severity` number (`SCOUTLB_INVALID_ARGUMENT` otherwise). A NULL
/// `callback` removes the callback. `user_data` is passed back unchanged and must stay valid as
/// long as a client created from this config lives. See `scoutlb_event_callback` for the threads.
///
/// Thread safety: not while the config is used from another thread.
///
/// # Safety
/// `config` is NULL or a live config; `callback`, when not NULL, is a valid function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_config_set_event_callback(
    config: *mut scoutlb_config,
    min_severity: u32,
    callback: scoutlb_event_callback,
    user_data: *mut c_void,
) -> scoutlb_status {
    boundary("scoutlb_config_set_event_callback", || {
        // SAFETY: the caller passes a live config or NULL.
        let handle = unsafe { handle::borrow_mut(config) }?;
        let min = scoutlb_severity::from_u32(min_severity).ok_or_else(|| {
            Failure::new(
                scoutlb_status::SCOUTLB_INVALID_ARGUMENT,
                format!("min_severity {min_severity} is not a scoutlb_severity (0 to 2)"),
            )
        })?;
        handle.events = callback.map(|cb| (cb, UserData(user_data), min));
        Ok(())
    })
}

/// Use `callback` as the probe of clients created from this config (with `"probe": "callback"`).
///
/// A NULL `callback` removes it. `user_data` is passed back unchanged and must stay valid until every
/// client created from this config has been freed. Creating a client fails with `SCOUTLB_CONFIG`
/// when `"probe"` is `"callback"` without a callback, or a callback is set with another probe.
/// See `scoutlb_probe_callback` for the threads.
///
/// Thread safety: not while the config is used from another thread.
///
/// # Safety
/// `config` is NULL or a live config; `callback`, when not NULL, is a valid function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_config_set_probe_callback(
    config: *mut scoutlb_config,
    callback: scoutlb_probe_callback,
    user_data: *mut c_void,
) -> scoutlb_status {
    boundary("scoutlb_config_set_probe_callback", || {
        // SAFETY: the caller passes a live config or NULL.
        let handle = unsafe { handle::borrow_mut(config) }?;
        handle.probe = callback.map(|cb| (cb, UserData(user_data)));
        Ok(())
    })
}

/// Fix the seed of the random numbers (retry jitter, SRV weights) of clients created from this
/// config, for reproducible tests. Without it every client seeds itself randomly.
///
/// Thread safety: not while the config is used from another thread.
///
/// # Safety
/// `config` is NULL or a live config.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_config_set_random_seed(config: *mut scoutlb_config, seed: u64) -> scoutlb_status {
    boundary("scoutlb_config_set_random_seed", || {
        // SAFETY: the caller passes a live config or NULL.
        let handle = unsafe { handle::borrow_mut(config) }?;
        handle.seed = Some(seed);
        Ok(())
    })
}
