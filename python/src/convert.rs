//! Python keyword arguments to the JSON configuration object (behaviour.md, "Configuration keys").

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyMapping, PySequence, PyString};
use serde_json::{Map, Number, Value};

use crate::errors::config_key_error;
use crate::types::{Server, type_name};

/// The configuration keys that hold a file path.
pub const PATH_KEYS: [&str; 3] = ["state_file", "ca_file", "ca_dir"];

/// A path argument (str, bytes or `os.PathLike`) as the OS sees it, any bytes but NUL allowed
/// (behaviour.md, "Configuration keys"); None for any other type, which `to_json` then refuses.
pub fn os_path(obj: &Bound<'_, PyAny>) -> PyResult<Option<std::path::PathBuf>> {
    use std::os::unix::ffi::OsStringExt;
    if !(obj.cast::<PyString>().is_ok() || obj.cast::<PyBytes>().is_ok() || obj.hasattr("__fspath__")?) {
        return Ok(None);
    }
    let bytes: Vec<u8> = obj.py().import("os")?.call_method1("fsencode", (obj,))?.extract()?;
    Ok(Some(std::ffi::OsString::from_vec(bytes).into()))
}

/// Convert one configuration value; `key` names it in errors (`retry.base_ms` inside `retry`).
pub fn to_json(key: &str, obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    let py = obj.py();
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(i) = obj.cast::<PyInt>() {
        if let Ok(v) = i.extract::<i64>() {
            return Ok(v.into());
        }
        if let Ok(v) = i.extract::<u64>() {
            return Ok(v.into());
        }
        return Err(config_key_error(py, key, "integer out of range"));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| config_key_error(py, key, "expected a finite number"));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return s
            .to_cow()
            .map(|s| Value::String(s.to_string()))
            .map_err(|_| config_key_error(py, key, "the string is not valid Unicode (lone surrogate)"));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return std::str::from_utf8(b.as_bytes())
            .map(|s| Value::String(s.to_string()))
            .map_err(|_| config_key_error(py, key, "the bytes are not valid UTF-8"));
    }
    if let Ok(s) = obj.cast::<Server>() {
        return Ok(Value::String(s.get().0.to_string()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        return Ok(Value::Object(to_map(Some(key), d)?));
    }
    if obj.cast::<PyMapping>().is_ok() {
        let d = PyDict::new(py);
        d.update(obj.cast::<PyMapping>()?)?;
        return Ok(Value::Object(to_map(Some(key), &d)?));
    }
    // Any sequence but text (str and bytes were handled above).
    if obj.cast::<PySequence>().is_ok() {
        return obj
            .try_iter()?
            .map(|item| to_json(key, &item?))
            .collect::<PyResult<Vec<_>>>()
            .map(Value::Array);
    }
    if obj.hasattr("__fspath__")? {
        let path = py.import("os")?.call_method1("fspath", (obj,))?;
        return to_json(key, &path);
    }
    Err(config_key_error(
        py,
        key,
        format!("a Python {} cannot be a configuration value", type_name(obj)),
    ))
}

/// Convert a dict of configuration keys; `parent` prefixes nested keys in errors.
pub fn to_map(parent: Option<&str>, dict: &Bound<'_, PyDict>) -> PyResult<Map<String, Value>> {
    let mut map = Map::new();
    for (k, v) in dict.iter() {
        let name = k
            .cast::<PyString>()
            .ok()
            .and_then(|s| s.to_cow().ok().map(|c| c.into_owned()));
        let Some(name) = name else {
            return Err(config_key_error(
                dict.py(),
                parent.unwrap_or("(top level)"),
                format!("keys must be strings, got {}", type_name(&k)),
            ));
        };
        let full = match parent {
            Some(p) => format!("{p}.{name}"),
            None => name.clone(),
        };
        map.insert(name, to_json(&full, &v)?);
    }
    Ok(map)
}
