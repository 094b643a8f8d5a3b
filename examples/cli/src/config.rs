//! Where the configuration comes from: `--config FILE` (`-` = stdin), else `$SCOUTLB_CONFIG`, else
//! every default; then the `--set KEY=VALUE` overrides of this run.

use std::io::Read;
use std::path::Path;

use serde_json::{Map, Value};

use scoutlb::{Config, Error};

use crate::Failure;
use crate::args::{Args, CONFIG_ENV};

/// The configuration of this run.
pub fn load(args: &Args) -> Result<Config, Failure> {
    let (text, origin) = match (&args.config, std::env::var_os(CONFIG_ENV)) {
        (Some(path), _) => (read(path, "")?, describe(path, "")),
        (None, Some(path)) if path.is_empty() => {
            return Err(failure(format!(
                "{CONFIG_ENV} is set but empty: name the configuration file, or unset it for the defaults"
            )));
        }
        (None, Some(path)) => {
            let from = format!(" (from {CONFIG_ENV})");
            (read(Path::new(&path), &from)?, describe(Path::new(&path), &from))
        }
        (None, None) => (None, String::new()),
    };
    if args.set.is_empty() {
        return match text {
            Some(text) => Config::from_json(&text).map_err(|e| library(&origin, false, e)),
            None => Ok(Config::default()),
        };
    }
    let mut doc = match &text {
        None => Map::new(),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            // Not an object: the library says why, in its words.
            _ => {
                let e = Config::from_json(text)
                    .err()
                    .unwrap_or_else(|| Error::ConfigJson("the configuration must be a JSON object".into()));
                return Err(library(&origin, false, e));
            }
        },
    };
    for (key, value) in &args.set {
        set(&mut doc, key, value)?;
    }
    Config::from_map(&doc).map_err(|e| library(&origin, true, e))
}

/// The configuration text of `path` (`-` = stdin), or `None` for no file.
fn read(path: &Path, from: &str) -> Result<Option<String>, Failure> {
    let result = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map(|_| text)
    } else {
        std::fs::read_to_string(path)
    };
    result
        .map(Some)
        .map_err(|e| failure(format!("cannot read the configuration {}{from}: {e}", shown(path))))
}

/// `stdin`, or the path as given.
fn shown(path: &Path) -> String {
    if path == Path::new("-") {
        "from stdin".to_owned()
    } else {
        path.display().to_string()
    }
}

fn describe(path: &Path, from: &str) -> String {
    format!("{}{from}", shown(path))
}

/// Applies `--set key=value`: the value as JSON, or as a string when it is not JSON;
/// `retry.field` sets one field of the `retry` object.
fn set(doc: &mut Map<String, Value>, key: &str, value: &str) -> Result<(), Failure> {
    let value = serde_json::from_str::<Value>(value).unwrap_or_else(|_| Value::String(value.to_owned()));
    match key.split_once('.') {
        None => {
            doc.insert(key.to_owned(), value);
        }
        Some((outer, inner)) if !inner.is_empty() => {
            match doc.entry(outer).or_insert_with(|| Value::Object(Map::new())) {
                Value::Object(fields) => {
                    fields.insert(inner.to_owned(), value);
                }
                _ => {
                    return Err(Failure::Config {
                        message: format!("--set {key}: `{outer}` is not an object in the configuration"),
                        key: Some(outer.to_owned()),
                    });
                }
            }
        }
        Some(_) => {
            return Err(Failure::Config {
                message: format!("--set {key}: the key ends with a dot"),
                key: Some(key.to_owned()),
            });
        }
    }
    Ok(())
}

/// A configuration problem of our own, not tied to a key.
fn failure(message: String) -> Failure {
    Failure::Config { message, key: None }
}

/// The library refused the configuration from `origin` (empty: none), with `--set` overrides or
/// not: its message, and the key it names.
fn library(origin: &str, with_set: bool, e: Error) -> Failure {
    let key = match &e {
        Error::Config { key, .. } => Some(key.clone()),
        _ => None,
    };
    let origin = match (origin.is_empty(), with_set) {
        (true, true) => " with --set".to_owned(),
        (true, false) => String::new(),
        (false, true) => format!(" {origin} with --set"),
        (false, false) => format!(" {origin}"),
    };
    Failure::Config {
        message: format!("configuration{origin}: {e}"),
        key,
    }
}
