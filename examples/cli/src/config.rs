//! Where the configuration comes from: `--config FILE` (`-` = stdin), else `$SCOUTLB_CONFIG`, else
//! every default; then the `--set KEY=VALUE` overrides of this run.

use std::io::Read;
use std::path::Path;

use serde_json::{Map, Value};

use scoutlb::{Config, Error};

use crate::Failure;
use crate::args::{Args, CONFIG_ENV};

/// The configuration of this run, with the `--ini` files after those of `scout_ini`.
pub fn load(args: &Args) -> Result<Config, Failure> {
    let mut config = from_file_and_set(args)?;
    config.scout_ini.extend(args.ini.iter().cloned());
    Ok(config)
}

/// The configuration of `--config` (or `$SCOUTLB_CONFIG`) with every `--set` applied.
fn from_file_and_set(args: &Args) -> Result<Config, Failure> {
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
    // The overrides go into the file's JSON object; text that is not one goes to the library
    // unchanged, which says why in its words. from_slice and one call of Config::from_json, as in
    // the library: one copy of serde_json's parser and of the configuration reader in the binary
    // (the CLI's 3 MiB target, README "Shipping").
    let with_set = !args.set.is_empty();
    let text = match text {
        None if !with_set => return Ok(Config::default()),
        Some(text) if !with_set => text,
        text => match text.as_deref().map(|t| serde_json::from_slice::<Value>(t.as_bytes())) {
            None => overridden(Map::new(), &args.set)?,
            Some(Ok(Value::Object(doc))) => overridden(doc, &args.set)?,
            Some(_) => text.unwrap_or_default(),
        },
    };
    Config::from_json(&text).map_err(|e| library(&origin, with_set, e))
}

/// The configuration object `doc` with every `--set` applied, as JSON text.
fn overridden(mut doc: Map<String, Value>, sets: &[(String, String)]) -> Result<String, Failure> {
    for (key, value) in sets {
        set(&mut doc, key, value)?;
    }
    Ok(Value::Object(doc).to_string())
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
    let value = serde_json::from_slice::<Value>(value.as_bytes()).unwrap_or_else(|_| Value::String(value.to_owned()));
    match key.split_once('.') {
        None => {
            doc.insert(key.to_owned(), value);
        }
        Some((outer, inner)) if !inner.is_empty() => match doc.get_mut(outer) {
            Some(Value::Object(fields)) => {
                fields.insert(inner.to_owned(), value);
            }
            None => {
                let mut fields = Map::new();
                fields.insert(inner.to_owned(), value);
                doc.insert(outer.to_owned(), Value::Object(fields));
            }
            _ => {
                return Err(Failure::Config {
                    message: format!("--set {key}: `{outer}` is not an object in the configuration"),
                    key: Some(outer.to_owned()),
                });
            }
        },
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
