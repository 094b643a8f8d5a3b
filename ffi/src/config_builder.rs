//! The typed setters of `scoutlb_config`: configuration keys set one at a time, no JSON text needed.
//!
//! A thin layer over the core's parser of the configuration keys: each call changes one key of
//! the handle's settings and the core parses them all again, so a key is checked (and named in
//! the error) at the call that sets it, the order of the calls does not matter, and a refused
//! value changes nothing. The rules between keys (`"spread"` needs a `device_id`, `retry.cap_ms`
//! not below `retry.base_ms`, ...) are checked by `scoutlb_client_new`.

use std::ffi::c_char;

use scoutlb_core::{Config, Error, NESTED_KEYS};
use serde_json::{Map, Number, Value};

use crate::args::{arg_opt_str, arg_out, arg_str};
use crate::config::{ConfigHandle, scoutlb_config};
use crate::handle;
use crate::status::{Failure, boundary, scoutlb_status};

/// A configuration error naming `key`, in the core's wording.
fn key_error(key: &str, message: impl Into<String>) -> Failure {
    Error::Config {
        key: key.to_string(),
        message: message.into(),
    }
    .into()
}

/// Whether the core accepts `value` for the top-level `key` (asks the core, which owns the key table).
fn accepts(key: &str, value: Value) -> bool {
    let mut probe = Map::new();
    probe.insert(key.to_string(), value);
    Config::parse_keys(&probe).is_ok()
}

/// Whether `key` holds a list of strings (`servers`, `nameservers`, `search_domains`).
fn is_list(key: &str) -> bool {
    accepts(key, Value::Array(Vec::new()))
}

/// Where a key lives in the settings: the object (the top level, or `retry` for `retry.base_ms`)
/// and the key's name inside it.
struct Slot<'a> {
    object: &'a mut Map<String, Value>,
    name: &'a str,
}

/// The slot of `key`; a dotted key must name a field of `retry` or `rebalance` (`NESTED_KEYS`).
fn slot<'a>(settings: &'a mut Map<String, Value>, key: &'a str) -> Result<Slot<'a>, Failure> {
    let Some((parent, name)) = key.split_once('.') else {
        return Ok(Slot {
            object: settings,
            name: key,
        });
    };
    let fields = NESTED_KEYS
        .iter()
        .find(|(p, _)| *p == parent)
        .map(|(_, fields)| *fields);
    if !fields.is_some_and(|fields| fields.contains(&name)) {
        let known: Vec<String> = NESTED_KEYS
            .iter()
            .flat_map(|(p, fields)| fields.iter().map(move |k| format!("{p}.{k}")))
            .collect();
        return Err(key_error(
            key,
            format!("unknown key; the keys with a dot are {}", known.join(", ")),
        ));
    }
    let entry = settings.entry(parent.to_string()).or_insert(Value::Null);
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    match entry {
        Value::Object(object) => Ok(Slot { object, name }),
        _ => unreachable!("made an object just above"),
    }
}

/// Apply `change` to a copy of the handle's settings and keep it only when the core accepts the
/// result: a refused value leaves the config as it was.
fn update(
    handle: &mut ConfigHandle,
    key: &str,
    change: impl FnOnce(Slot<'_>) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let mut settings = handle.settings.clone();
    change(slot(&mut settings, key)?)?;
    handle.config = Config::parse_keys(&settings)?;
    handle.settings = settings;
    Ok(())
}

/// Put the key of `slot` back to its default.
fn clear(slot: Slot<'_>, key: &str) {
    if key.contains('.') {
        // A key inside `retry` (known: `slot` checked it): its absence is its default.
        slot.object.remove(slot.name);
    } else {
        // Null is the default of every top-level key, and the core still refuses an unknown one.
        slot.object.insert(slot.name.to_string(), Value::Null);
    }
}

/// Shared body of the setters: check the handle and the key, then [`update`].
///
/// # Safety
/// `config` is NULL or a live config; `key` is NULL or NUL-terminated.
unsafe fn set(
    name: &str,
    config: *mut scoutlb_config,
    key: *const c_char,
    change: impl FnOnce(Slot<'_>, &str) -> Result<(), Failure>,
) -> scoutlb_status {
    boundary(name, || {
        // SAFETY: forwarded from the caller.
        let handle = unsafe { handle::borrow_mut(config) }?;
        // SAFETY: forwarded from the caller.
        let key = unsafe { arg_str(key, "key") }?;
        update(handle, key, |slot| change(slot, key))
    })
}

/// Start a configuration with every key at its default (behaviour.md, "Configuration keys"), to
/// fill in with the typed setters (`scoutlb_config_set_string`, `scoutlb_config_add_string`,
/// `scoutlb_config_set_u64`, `scoutlb_config_set_double`).
///
/// The same handle as `scoutlb_config_new` makes from JSON text (whose configs the setters change
/// as well): free it with `scoutlb_config_free`.
///
/// Thread safety: may be called from any thread.
///
/// # Safety
/// `config_out` is NULL or a valid pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_config_new_default(config_out: *mut *mut scoutlb_config) -> scoutlb_status {
    boundary("scoutlb_config_new_default", || {
        let out = arg_out(config_out, "config_out")?;
        let handle = handle::into_raw(ConfigHandle::new(Map::new(), Config::default()));
        // SAFETY: `out` was checked not NULL; the caller guarantees it is valid.
        unsafe { out.write(handle) };
        Ok(())
    })
}

/// Set a text key (`state_file`, `probe`, `manager_load_balancer`, `device_id`, `retry.profile`, ...), or with a
/// NULL `value` put it back to its default.
///
/// `key` is a configuration key (behaviour.md, "Configuration keys"); a key inside `retry` is
/// written `retry.base_ms`. The value is checked at once: an unknown key or a wrong value fails
/// with `SCOUTLB_CONFIG` and a message naming the key, and leaves the config unchanged. The list
/// keys (`servers`, `nameservers`, `search_domains`) take their entries from
/// `scoutlb_config_add_string`. The rules between keys are checked by `scoutlb_client_new`.
///
/// Thread safety: not while the config is used from another thread.
///
/// # Safety
/// `config` is NULL or a live config; `key` is NULL or NUL-terminated; `value` is NULL or
/// NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_config_set_string(
    config: *mut scoutlb_config,
    key: *const c_char,
    value: *const c_char,
) -> scoutlb_status {
    // SAFETY: forwarded from the caller.
    let value = unsafe { arg_opt_str(value, "value") };
    // SAFETY: forwarded from the caller.
    unsafe {
        set("scoutlb_config_set_string", config, key, |slot, key| {
            let value = value?;
            if value.is_some() && is_list(key) {
                return Err(key_error(
                    key,
                    "a list: add its entries one at a time with scoutlb_config_add_string",
                ));
            }
            match value {
                Some(text) => {
                    slot.object
                        .insert(slot.name.to_string(), Value::String(text.to_string()));
                }
                None => clear(slot, key),
            }
            Ok(())
        })
    }
}

/// Append one entry to a list key: `servers` (an address), `nameservers` (an IP with an optional
/// port) or `search_domains` (a domain).
///
/// The entry is checked at once (`SCOUTLB_CONFIG` naming the key; the list is left as it was).
/// Entries keep the order of the calls; `scoutlb_config_reset` empties the list.
///
/// Thread safety: not while the config is used from another thread.
///
/// # Safety
/// `config` is NULL or a live config; `key` and `value` are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_config_add_string(
    config: *mut scoutlb_config,
    key: *const c_char,
    value: *const c_char,
) -> scoutlb_status {
    // SAFETY: forwarded from the caller.
    let value = unsafe { arg_str(value, "value") };
    // SAFETY: forwarded from the caller.
    unsafe {
        set("scoutlb_config_add_string", config, key, |slot, key| {
            let value = Value::String(value?.to_string());
            if !is_list(key) {
                return Err(key_error(
                    key,
                    "not a list: set it with scoutlb_config_set_string, scoutlb_config_set_u64 or \
                     scoutlb_config_set_double (the list keys are servers, nameservers and search_domains)",
                ));
            }
            match slot.object.entry(slot.name.to_string()).or_insert(Value::Null) {
                Value::Array(items) => items.push(value),
                other => *other = Value::Array(vec![value]),
            }
            Ok(())
        })
    }
}

/// Set a whole-number key: a duration in milliseconds (`connect_timeout_ms`, `attempt_delay_ms`,
/// `retry.base_ms`, `retry.timer_ms`, ...), `default_port`, or a count (`retry.max_tries`,
/// `retry.max_retries`, `retry.permanent_after_days`; behaviour.md, "All fail").
///
/// Checked at once like `scoutlb_config_set_string` (a port above 65535, a duration above a day:
/// `SCOUTLB_CONFIG` naming the key, the config unchanged).
///
/// Thread safety: not while the config is used from another thread.
///
/// # Safety
/// `config` is NULL or a live config; `key` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_config_set_u64(
    config: *mut scoutlb_config,
    key: *const c_char,
    value: u64,
) -> scoutlb_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        set("scoutlb_config_set_u64", config, key, |slot, _| {
            slot.object.insert(slot.name.to_string(), Value::from(value));
            Ok(())
        })
    }
}

/// Set a key that is true or false: `rebalance.enabled`.
///
/// Checked at once like `scoutlb_config_set_string` (`SCOUTLB_CONFIG` naming the key, the config
/// unchanged).
///
/// Thread safety: not while the config is used from another thread.
///
/// # Safety
/// `config` is NULL or a live config; `key` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_config_set_bool(
    config: *mut scoutlb_config,
    key: *const c_char,
    value: bool,
) -> scoutlb_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        set("scoutlb_config_set_bool", config, key, |slot, _| {
            slot.object.insert(slot.name.to_string(), Value::Bool(value));
            Ok(())
        })
    }
}

/// Set a number key that may have a fraction: `retry.factor`.
///
/// Checked at once like `scoutlb_config_set_string`; NaN and infinities are refused
/// (`SCOUTLB_CONFIG` naming the key, the config unchanged).
///
/// Thread safety: not while the config is used from another thread.
///
/// # Safety
/// `config` is NULL or a live config; `key` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_config_set_double(
    config: *mut scoutlb_config,
    key: *const c_char,
    value: f64,
) -> scoutlb_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        set("scoutlb_config_set_double", config, key, |slot, key| {
            let number = Number::from_f64(value).ok_or_else(|| key_error(key, "expected a finite number"))?;
            slot.object.insert(slot.name.to_string(), Value::Number(number));
            Ok(())
        })
    }
}

/// Put a key back to its default (a list key becomes empty; `retry` resets all of its keys).
///
/// An unknown key fails with `SCOUTLB_CONFIG` naming it.
///
/// Thread safety: not while the config is used from another thread.
///
/// # Safety
/// `config` is NULL or a live config; `key` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_config_reset(config: *mut scoutlb_config, key: *const c_char) -> scoutlb_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        set("scoutlb_config_reset", config, key, |slot, key| {
            clear(slot, key);
            Ok(())
        })
    }
}
