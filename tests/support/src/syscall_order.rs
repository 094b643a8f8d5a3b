//! The order of a file replacement's system calls, read from an `strace -f` log.
//!
//! An atomic, durable replacement of a file writes a temporary file, fsyncs it, renames it over
//! the file and then fsyncs the folder. [`trace`] runs a command under `strace` (Debian package
//! `strace`) and [`check_durable_replace`] finds those steps in the log, or says which is missing.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

/// The system calls that [`trace`] records.
pub const TRACED: &str = "openat,write,fsync,fdatasync,rename,renameat,renameat2,close";

/// What a durable replacement looked like in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    /// The temporary file renamed over the target.
    pub temp: String,
    /// How many writes went into it.
    pub writes: usize,
    /// The call that made its data durable (`fsync` or `fdatasync`).
    pub sync_call: String,
}

/// Why strace cannot run here, if it cannot (not installed, or ptrace refused in a container).
pub fn strace_unavailable() -> Option<String> {
    match Command::new("strace")
        .args(["-qq", "-e", "trace=none", "true"])
        .output()
    {
        Err(e) => Some(format!("strace is not installed ({e}); Debian package strace")),
        Ok(o) if !o.status.success() => Some(format!(
            "strace cannot trace here (ptrace refused?): {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Ok(_) => None,
    }
}

/// Run `program args` (with the variables `env` added) under `strace -f` with the calls of
/// [`TRACED`]; the log, or why it failed.
pub fn trace(program: &Path, args: &[&str], env: &[(&str, &str)], log: &Path) -> Result<String, String> {
    let out = Command::new("strace")
        .envs(env.iter().copied())
        .args(["-f", "-qq", "-s", "4096", "-e"])
        .arg(format!("trace={TRACED}"))
        .arg("-o")
        .arg(log)
        .arg(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run strace: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{} {args:?} failed under strace: {}\n{}{}",
            program.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    std::fs::read_to_string(log).map_err(|e| format!("cannot read {}: {e}", log.display()))
}

/// One finished system call of the log.
#[derive(Debug, Clone)]
struct Call {
    pid: String,
    name: String,
    args: Vec<String>,
    ret: i64,
}

/// The calls of an `strace -f -o` log, with `<unfinished ...>` / `<... resumed>` halves joined.
fn calls(log: &str) -> Vec<Call> {
    let mut pending: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    for line in log.lines() {
        let (pid, rest) = line.trim_start().split_once(char::is_whitespace).unwrap_or(("", line));
        let rest = rest.trim_start();
        let full = if let Some(head) = rest.strip_suffix("<unfinished ...>") {
            pending.insert(pid.to_string(), head.trim_end().to_string());
            continue;
        } else if rest.starts_with("<...") {
            let Some((_, tail)) = rest.split_once("resumed>") else {
                continue;
            };
            format!("{}{}", pending.remove(pid).unwrap_or_default(), tail)
        } else {
            rest.to_string()
        };
        let Some((name, after)) = full.split_once('(') else {
            continue;
        };
        // strace pads the return value: `fsync(4)          = 0`.
        let Some((args, ret)) = after.rsplit_once(" = ") else {
            continue;
        };
        let Some(args) = args.trim_end().strip_suffix(')') else {
            continue;
        };
        let ret = ret.split_whitespace().next().and_then(|r| r.parse().ok()).unwrap_or(-1);
        out.push(Call {
            pid: pid.to_string(),
            name: name.to_string(),
            args: split_args(args),
            ret,
        });
    }
    out
}

/// Split strace's argument text on the commas outside quotes, brackets and braces; strings unquoted.
fn split_args(text: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let (mut depth, mut quoted, mut escaped) = (0i32, false, false);
    for c in text.chars() {
        if quoted {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
                continue;
            } else if c == '"' {
                quoted = false;
                continue;
            }
            cur.push(c);
            continue;
        }
        match c {
            '"' => quoted = true,
            '[' | '{' | '(' => {
                depth += 1;
                cur.push(c)
            }
            ']' | '}' | ')' => {
                depth -= 1;
                cur.push(c)
            }
            ',' if depth == 0 => args.push(std::mem::take(&mut cur).trim().to_string()),
            _ => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        args.push(cur.trim().to_string());
    }
    args
}

/// The source and target of a rename-family call.
fn rename_paths(c: &Call) -> Option<(&str, &str)> {
    match (c.name.as_str(), c.args.as_slice()) {
        ("rename", [from, to, ..]) => Some((from, to)),
        ("renameat" | "renameat2", [_, from, _, to, ..]) => Some((from, to)),
        _ => None,
    }
}

fn fd_arg(c: &Call) -> Option<i64> {
    c.args.first()?.parse().ok()
}

/// Check that `target` was replaced durably: its temporary file written and fsynced before the
/// rename over `target`, and `target`'s folder opened and fsynced after it.
pub fn check_durable_replace(log: &str, target: &Path) -> Result<Replacement, String> {
    let calls = calls(log);
    let target_text = target.to_string_lossy();
    let r = calls
        .iter()
        .rposition(|c| c.ret == 0 && rename_paths(c).is_some_and(|(_, to)| to == target_text))
        .ok_or_else(|| format!("no successful rename over {target_text} in the log"))?;
    let (temp, _) = rename_paths(&calls[r]).expect("found as a rename");
    let o = calls[..r]
        .iter()
        .rposition(|c| c.name == "openat" && c.ret >= 0 && c.args.get(1).map(String::as_str) == Some(temp))
        .ok_or_else(|| format!("the temporary file {temp} is never opened before the rename"))?;
    let (pid, fd) = (&calls[o].pid, calls[o].ret);
    // The calls on that descriptor until it is closed (or until the rename).
    let on_fd: Vec<(usize, &Call)> = calls[o + 1..r]
        .iter()
        .enumerate()
        .map(|(i, c)| (o + 1 + i, c))
        .filter(|(_, c)| &c.pid == pid && fd_arg(c) == Some(fd))
        .take_while(|(_, c)| c.name != "close")
        .collect();
    let writes: Vec<usize> = on_fd
        .iter()
        .filter(|(_, c)| c.name == "write" && c.ret > 0)
        .map(|(i, _)| *i)
        .collect();
    let last_write = *writes
        .last()
        .ok_or_else(|| format!("nothing is written into {temp} before the rename"))?;
    let sync = on_fd
        .iter()
        .find(|(i, c)| *i > last_write && (c.name == "fsync" || c.name == "fdatasync") && c.ret == 0)
        .ok_or_else(|| {
            format!("{temp} is not fsynced after its last write and before the rename over {target_text}")
        })?;
    let dir = target
        .parent()
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default();
    let synced_dir = calls[r + 1..].iter().enumerate().any(|(i, c)| {
        c.name == "openat"
            && c.ret >= 0
            && c.args.get(1).map(|p| p.trim_end_matches('/')) == Some(dir.trim_end_matches('/'))
            && calls[r + 2 + i..]
                .iter()
                .filter(|later| later.pid == c.pid && fd_arg(later) == Some(c.ret))
                .take_while(|later| later.name != "close")
                .any(|later| later.name == "fsync" && later.ret == 0)
    });
    if !synced_dir {
        return Err(format!(
            "the folder {dir} is not opened and fsynced after the rename over {target_text}"
        ));
    }
    Ok(Replacement {
        temp: temp.to_string(),
        writes: writes.len(),
        sync_call: sync.1.name.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"100 openat(AT_FDCWD, "/d/.s.tmp-1", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0666) = 3
100 write(3, "{\"a\", 1}", 8) = 8
100 fsync(3 <unfinished ...>
101 write(4, "x", 1) = 1
100 <... fsync resumed>) = 0
100 close(3) = 0
100 rename("/d/.s.tmp-1", "/d/s") = 0
100 openat(AT_FDCWD, "/d", O_RDONLY|O_CLOEXEC) = 3
100 fsync(3) = 0
"#;

    #[test]
    fn accepts_write_fsync_rename_fsync_of_the_folder() {
        let r = check_durable_replace(GOOD, Path::new("/d/s")).unwrap();
        assert_eq!(
            (r.temp.as_str(), r.writes, r.sync_call.as_str()),
            ("/d/.s.tmp-1", 1, "fsync")
        );
    }

    #[test]
    fn names_the_missing_step() {
        let no_sync = GOOD
            .replace("100 fsync(3 <unfinished ...>\n", "")
            .replace("100 <... fsync resumed>) = 0\n", "");
        assert!(
            check_durable_replace(&no_sync, Path::new("/d/s"))
                .unwrap_err()
                .contains("not fsynced")
        );
        let sync_before_write = GOOD.replace(
            "100 write(3, \"{\\\"a\\\", 1}\", 8) = 8\n100 fsync(3 <unfinished ...>\n",
            "100 fsync(3 <unfinished ...>\n",
        );
        let sync_before_write =
            sync_before_write.replace("100 close(3) = 0\n", "100 write(3, \"x\", 1) = 1\n100 close(3) = 0\n");
        assert!(
            check_durable_replace(&sync_before_write, Path::new("/d/s"))
                .unwrap_err()
                .contains("not fsynced")
        );
        let no_dir = GOOD.replace("100 fsync(3) = 0\n", "");
        assert!(
            check_durable_replace(&no_dir, Path::new("/d/s"))
                .unwrap_err()
                .contains("folder")
        );
        assert!(
            check_durable_replace(GOOD, Path::new("/d/other"))
                .unwrap_err()
                .contains("no successful rename")
        );
    }
}
