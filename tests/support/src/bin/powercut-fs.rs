//! Mount the power-cut file system for tests in other languages, driven by commands on stdin.
//!
//! ```text
//! powercut-fs            # prints "mounted PATH" once the file system is ready
//! fail write ENOSPC      # the next write fails with ENOSPC (also create, rename, fsync, fsyncdir; EIO, ...)
//! cut                    # power cut: everything not fsynced is lost, every call fails with EIO
//! restart                # power back on
//! stats                  # one line of counts
//! quit                   # unmount and exit (end of input does the same)
//! ```
//! Every command is answered by one line: `ok`, `stats ...` or `error: why`.

use std::io::{BufRead, Write};

use scoutlb_testkit::PowerCutFs;
use scoutlb_testkit::power_cut::Op;

fn main() {
    if let Some(why) = PowerCutFs::unavailable() {
        eprintln!("powercut-fs: {why}");
        std::process::exit(2);
    }
    let fs = match PowerCutFs::mount() {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("powercut-fs: {why}");
            std::process::exit(2);
        }
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "mounted {}", fs.path().display())
        .and_then(|()| out.flush())
        .ok();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            [] => continue,
            ["quit"] => break,
            ["cut"] => {
                fs.cut();
                "ok".to_string()
            }
            ["restart"] => {
                fs.restart();
                "ok".to_string()
            }
            ["stats"] => format!("stats {:?}", fs.stats()),
            ["fail", op, errno] => match (Op::from_name(op), errno_number(errno)) {
                (Some(op), Some(e)) => {
                    fs.fail_next(op, e);
                    "ok".to_string()
                }
                _ => format!(
                    "error: expected `fail create|write|rename|fsync|fsyncdir EIO|ENOSPC|EDQUOT|EROFS`, got `{line}`"
                ),
            },
            _ => format!("error: unknown command `{line}` (fail, cut, restart, stats, quit)"),
        };
        if writeln!(out, "{answer}").and_then(|()| out.flush()).is_err() {
            break;
        }
    }
}

/// The number of an errno name.
fn errno_number(name: &str) -> Option<i32> {
    Some(match name {
        "EIO" => libc::EIO,
        "ENOSPC" => libc::ENOSPC,
        "EDQUOT" => libc::EDQUOT,
        "EROFS" => libc::EROFS,
        _ => return None,
    })
}
