//! `--calibrate`: a scenario both ways, in the model and on sockets, for each fleet size of
//! `--calibrate-devices` (default 3,000 and 10,000), the figures side by side with their ratio,
//! and every figure outside [`TOLERANCE`] named.

use crate::cli::Cli;
use crate::report::{Report, Row, Unit, say, show};
use crate::scenario::server_down::{ALL_BACK, MOVED_TO};
use crate::stats::median;

/// How far the model's figure may be from the sockets' (relative to the sockets').
pub const TOLERANCE: f64 = 0.2;

/// Counts this close (a share of the fleet) agree whatever their ratio: 0 against 12 of 10,000.
pub const COUNT_SLACK: f64 = 0.005;

/// The figures compared, by the end of their names (after a sub-run's prefix such as
/// "SIGKILL, list: "): failures, migrations, per-server shares, time until all are back.
const COMPARED: &[&str] = &[
    "failures",
    "migrations (not on the first live server of its order)",
    ALL_BACK,
    "boot time (window start to last connected)",
    "time until all are connected, from the first server's return",
];

/// The starts of the per-server figures compared (after a prefix).
const COMPARED_PER_SERVER: &[&str] = &[MOVED_TO, "requests to ", "devices on "];

/// Whether the figure named `name` is compared.
fn compared(name: &str) -> bool {
    let tail = name.rsplit(": ").next().unwrap_or(name);
    COMPARED.contains(&tail) || COMPARED_PER_SERVER.iter().any(|p| tail.starts_with(p))
}

/// One compared figure.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// Its name.
    pub name: String,
    /// How it is shown.
    pub unit: Unit,
    /// The model's median.
    pub model: f64,
    /// The sockets' median.
    pub sockets: f64,
    /// Whether they agree within the tolerance.
    pub agree: bool,
}

/// Whether `model` agrees with `sockets` for a fleet of `devices`.
pub fn agree(model: f64, sockets: f64, unit: Unit, devices: usize) -> bool {
    if model == sockets {
        return true;
    }
    if !(model.is_finite() && sockets.is_finite()) {
        return false;
    }
    let diff = (model - sockets).abs();
    diff <= TOLERANCE * sockets.abs() || (unit == Unit::Count && diff <= COUNT_SLACK * devices as f64)
}

/// The medians of the rows over the runs, by name.
fn medians(runs: &[Report]) -> Vec<Row> {
    let Some(first) = runs.first() else { return Vec::new() };
    first
        .rows
        .iter()
        .map(|row| {
            let values: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.rows.iter().find(|x| x.name == row.name))
                .map(|r| r.value)
                .collect();
            Row {
                value: median(&values),
                ..row.clone()
            }
        })
        .collect()
}

/// The compared figures of a model run and a socket run of `devices`.
pub fn compare(model: &[Report], sockets: &[Report], devices: usize) -> Vec<Comparison> {
    let sockets = medians(sockets);
    medians(model)
        .into_iter()
        .filter(|r| compared(&r.name))
        .filter_map(|m| {
            let s = sockets.iter().find(|s| s.name == m.name)?;
            Some(Comparison {
                agree: agree(m.value, s.value, m.unit, devices),
                name: m.name,
                unit: m.unit,
                model: m.value,
                sockets: s.value,
            })
        })
        .collect()
}

/// Prints the comparison table of `devices`; the names of the figures outside the tolerance.
fn print(devices: usize, table: &[Comparison]) -> Vec<String> {
    let width = table.iter().map(|c| c.name.chars().count()).max().unwrap_or(6).max(6);
    println!();
    println!("== calibration, {devices} devices: the model beside the sockets (medians) ==");
    println!(
        "{:<width$} | {:>12} | {:>12} | {:>6} | within 20 %",
        "figure", "model", "sockets", "ratio"
    );
    let mut outside = Vec::new();
    for c in table {
        let ratio = c.model / c.sockets;
        println!(
            "{:<width$} | {:>12} | {:>12} | {:>6} | {}",
            c.name,
            show(c.model, c.unit),
            show(c.sockets, c.unit),
            if ratio.is_finite() {
                format!("{ratio:.2}")
            } else {
                "-".into()
            },
            if c.agree { "yes" } else { "NO" }
        );
        if !c.agree {
            outside.push(format!("{} ({devices} devices)", c.name));
        }
    }
    outside
}

/// Runs the calibration; true when every compared figure agrees.
pub fn run(cli: &Cli) -> Result<bool, String> {
    let json = cli.common.json;
    let mut outside = Vec::new();
    let mut documents = Vec::new();
    let mut compared_any = false;
    for &devices in &cli.common.model.calibrate_devices {
        let mut common = cli.common.clone();
        common.devices = devices;
        common.model.calibrate = false;
        common.model.model = true;
        // The socket fleet's devices share one process: the model is told how fast it goes.
        common.model.model_fleet_rate = common
            .model
            .model_fleet_rate
            .or(Some(crate::model::socket_fleet_rate(common.driver)));
        let at = Cli {
            common: common.clone(),
            scenario: cli.scenario.clone(),
        };
        say(json, format_args!("calibration, {devices} devices: the model..."));
        let mut model = crate::model::reports(&at)?;
        model.png = common
            .png_dir
            .join(format!("fleet-model-{}-{devices}.png", cli.scenario.name()));
        crate::chart::write_png(&model.png, &model.title, &model.chart)?;
        say(json, format_args!("calibration, {devices} devices: on sockets..."));
        common.model.model = false;
        let at = Cli {
            common: common.clone(),
            scenario: cli.scenario.clone(),
        };
        let sockets = match crate::sockets(&at) {
            Ok(mut done) => {
                done.png = common
                    .png_dir
                    .join(format!("fleet-{}-{devices}.png", cli.scenario.name()));
                crate::chart::write_png(&done.png, &done.title, &done.chart)?;
                Some(done)
            }
            Err(e) => {
                say(
                    json,
                    format_args!(
                        "calibration, {devices} devices: the socket run cannot be made on this machine, so only the model's figures are shown: {e}"
                    ),
                );
                None
            }
        };
        let table = match &sockets {
            Some(s) => compare(&model.reports, &s.reports, devices),
            None => Vec::new(),
        };
        compared_any |= !table.is_empty();
        if json {
            documents.push(serde_json::json!({
                "devices": devices,
                "model_picture": model.png.display().to_string(),
                "sockets_picture": sockets.as_ref().map(|s| s.png.display().to_string()),
                "figures": table.iter().map(|c| serde_json::json!({
                    "name": c.name,
                    "model": finite(c.model),
                    "sockets": finite(c.sockets),
                    "ratio": finite(c.model / c.sockets),
                    "agree": c.agree,
                })).collect::<Vec<_>>(),
            }));
            outside.extend(
                table
                    .iter()
                    .filter(|c| !c.agree)
                    .map(|c| format!("{} ({devices} devices)", c.name)),
            );
        } else {
            if sockets.is_none() {
                println!();
                println!("== calibration, {devices} devices: the model only (no socket run) ==");
                for r in medians(&model.reports).iter().filter(|r| compared(&r.name)) {
                    println!("{} | {}", r.name, show(r.value, r.unit));
                }
            }
            outside.extend(print(devices, &table));
            println!(
                "pictures: {}{}",
                model.png.display(),
                sockets
                    .as_ref()
                    .map_or(String::new(), |s| format!(", {}", s.png.display()))
            );
        }
    }
    let pass = compared_any && outside.is_empty();
    let verdict = match (compared_any, outside.is_empty()) {
        (false, _) => "calibration: FAIL (no socket run could be compared)".to_owned(),
        (true, true) => format!(
            "calibration: PASS (every compared figure within {:.0} %)",
            TOLERANCE * 100.0
        ),
        (true, false) => format!(
            "calibration: FAIL ({} figures outside {:.0} %: {})",
            outside.len(),
            TOLERANCE * 100.0,
            outside.join("; ")
        ),
    };
    if json {
        println!(
            "{}",
            serde_json::json!({
                "scenario": cli.scenario.name(),
                "tolerance": TOLERANCE,
                "sizes": documents,
                "outside": outside,
                "verdict": if pass { "PASS" } else { "FAIL" },
            })
        );
        eprintln!("{verdict}");
    } else {
        println!("{verdict}");
    }
    Ok(pass)
}

/// A number for JSON, `null` when not finite.
fn finite(v: f64) -> serde_json::Value {
    if v.is_finite() {
        serde_json::json!(v)
    } else {
        serde_json::Value::Null
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_is_within_the_tolerance_or_the_slack_of_counts() {
        assert!(agree(110.0, 100.0, Unit::Ms, 1000));
        assert!(!agree(130.0, 100.0, Unit::Ms, 1000));
        assert!(agree(0.0, 0.0, Unit::Count, 1000));
        assert!(agree(4.0, 0.0, Unit::Count, 1000));
        assert!(!agree(40.0, 0.0, Unit::Count, 1000));
        assert!(!agree(f64::NAN, 1.0, Unit::Ms, 1000));
    }

    #[test]
    fn the_compared_figures_are_named_after_their_prefix() {
        assert!(compared("SIGKILL, list: moved to B"));
        assert!(compared("SIGSTOP, spread: time until all are back"));
        assert!(compared("requests to A"));
        assert!(!compared("SIGKILL, list: back after noticing p50"));
    }
}
