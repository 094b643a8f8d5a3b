//! The table of figures, the checks, and the verdict line; medians over repeated runs.

use crate::stats::median;

/// How a figure is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A whole number.
    Count,
    /// Milliseconds.
    Ms,
    /// A ratio (∞ when the divisor is zero).
    Ratio,
    /// Mebibytes.
    Mib,
}

/// One figure of a run.
#[derive(Clone, Debug)]
pub struct Row {
    /// What it is.
    pub name: String,
    /// Its value.
    pub value: f64,
    /// How it is shown.
    pub unit: Unit,
}

/// A statement that holds or not.
#[derive(Clone, Debug)]
pub struct Check {
    /// What is claimed.
    pub what: String,
    /// Whether it holds.
    pub ok: bool,
}

/// The figures and checks of one run.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Figures, in order.
    pub rows: Vec<Row>,
    /// Invariants: the verdict fails when one does not hold.
    pub invariants: Vec<Check>,
    /// Targets: reported as met or missed, not part of the verdict.
    pub targets: Vec<Check>,
    /// Remarks printed under the table, such as why a device failed.
    pub notes: Vec<String>,
}

impl Report {
    /// Adds a figure.
    pub fn row(&mut self, name: impl Into<String>, value: f64, unit: Unit) {
        self.rows.push(Row {
            name: name.into(),
            value,
            unit,
        });
    }

    /// Adds an invariant.
    pub fn invariant(&mut self, what: impl Into<String>, ok: bool) {
        self.invariants.push(Check { what: what.into(), ok });
    }

    /// Adds a target.
    pub fn target(&mut self, what: impl Into<String>, ok: bool) {
        self.targets.push(Check { what: what.into(), ok });
    }

    /// Adds a remark, made printable: it may quote a server's text (behaviour.md, "Surfaces").
    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(scoutlb::printable(&text.into()).into_owned());
    }

    /// The value of the figure named `name`, if there is one.
    pub fn value(&self, name: &str) -> Option<f64> {
        self.rows.iter().find(|r| r.name == name).map(|r| r.value)
    }

    /// Appends another report's rows and checks, their names prefixed.
    pub fn extend(&mut self, prefix: &str, other: Report) {
        let named = |n: String| format!("{prefix}{n}");
        self.rows.extend(other.rows.into_iter().map(|r| Row {
            name: named(r.name),
            ..r
        }));
        self.invariants.extend(other.invariants.into_iter().map(|c| Check {
            what: named(c.what),
            ..c
        }));
        self.targets.extend(other.targets.into_iter().map(|c| Check {
            what: named(c.what),
            ..c
        }));
        self.notes.extend(other.notes.into_iter().map(named));
    }
}

/// Shows a value in its unit.
pub fn show(value: f64, unit: Unit) -> String {
    match unit {
        _ if value.is_nan() => "-".into(),
        Unit::Ratio if value.is_infinite() => "∞ (all on one)".into(),
        Unit::Count => format!("{value:.0}"),
        Unit::Ms => format!("{value:.1} ms"),
        Unit::Ratio => format!("{value:.2}"),
        Unit::Mib => format!("{value:.0} MiB"),
    }
}

/// Prints a line of progress: on stdout, or on stderr when stdout carries the `--json` document.
pub fn say(json: bool, text: impl std::fmt::Display) {
    if json {
        eprintln!("{text}");
    } else {
        println!("{text}");
    }
}

/// The unit's name in the JSON document.
fn unit_name(unit: Unit) -> &'static str {
    match unit {
        Unit::Count => "count",
        Unit::Ms => "ms",
        Unit::Ratio => "ratio",
        Unit::Mib => "MiB",
    }
}

/// Whether check `j` of `checks` holds in every run.
fn held(runs: &[Report], checks: fn(&Report) -> &Vec<Check>, j: usize) -> bool {
    runs.iter().all(|r| checks(r).get(j).is_some_and(|c| c.ok))
}

/// Prints the figures (median and each run's value; `null` for none or infinity), the checks and
/// the verdict as one JSON document on stdout (`--json`); true on PASS.
pub fn print_json(scenario: &str, title: &str, runs: &[Report], picture: &std::path::Path) -> bool {
    use serde_json::json;
    let number = |v: f64| {
        if v.is_finite() {
            json!(v)
        } else {
            serde_json::Value::Null
        }
    };
    let first = runs.first();
    let figures: Vec<_> = first
        .map_or(&[][..], |f| &f.rows[..])
        .iter()
        .enumerate()
        .map(|(j, row)| {
            let values: Vec<f64> = runs.iter().filter_map(|r| r.rows.get(j)).map(|r| r.value).collect();
            json!({
                "name": row.name,
                "unit": unit_name(row.unit),
                "median": number(median(&values)),
                "runs": values.iter().map(|&v| number(v)).collect::<Vec<_>>(),
                "all_on_one": row.unit == Unit::Ratio && values.iter().any(|v| v.is_infinite()),
            })
        })
        .collect();
    let checks = |list: fn(&Report) -> &Vec<Check>, word: &str| -> Vec<serde_json::Value> {
        first
            .map_or(&[][..], |f| &list(f)[..])
            .iter()
            .enumerate()
            .map(|(j, c)| json!({"what": c.what, word: held(runs, list, j)}))
            .collect()
    };
    let invariants = checks(|r| &r.invariants, "holds");
    let pass = first.is_some() && invariants.iter().all(|c| c["holds"] == true);
    let notes: Vec<_> = runs
        .iter()
        .enumerate()
        .flat_map(|(r, run)| run.notes.iter().map(move |n| json!({"run": r + 1, "note": n})))
        .collect();
    println!(
        "{}",
        json!({
            "scenario": scenario,
            "title": title,
            "runs": runs.len(),
            "figures": figures,
            "targets": checks(|r| &r.targets, "met"),
            "invariants": invariants,
            "notes": notes,
            "verdict": if pass { "PASS" } else { "FAIL" },
            "picture": picture.display().to_string(),
        })
    );
    pass
}

/// Prints the table (medians when there are several runs), the checks, and the verdict line; true on PASS.
pub fn print(title: &str, runs: &[Report]) -> bool {
    println!();
    println!("== {title} ==");
    let Some(first) = runs.first() else {
        println!("verdict: FAIL (no run finished)");
        return false;
    };
    let width = first
        .rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(10)
        .max(6);
    if runs.len() > 1 {
        println!("{:<width$} | median of {} | runs", "figure", runs.len());
    }
    for (j, row) in first.rows.iter().enumerate() {
        let values: Vec<f64> = runs.iter().filter_map(|r| r.rows.get(j)).map(|r| r.value).collect();
        if runs.len() > 1 {
            let each: Vec<String> = values.iter().map(|&v| show(v, row.unit)).collect();
            println!(
                "{:<width$} | {} | {}",
                row.name,
                show(median(&values), row.unit),
                each.join(", ")
            );
        } else {
            println!("{:<width$} | {}", row.name, show(row.value, row.unit));
        }
    }
    for (r, run) in runs.iter().enumerate() {
        for note in &run.notes {
            println!("note (run {}): {note}", r + 1);
        }
    }
    let held =
        |checks: &dyn Fn(&Report) -> &Vec<Check>, j: usize| runs.iter().all(|r| checks(r).get(j).is_some_and(|c| c.ok));
    for (j, c) in first.targets.iter().enumerate() {
        let met = held(&|r: &Report| &r.targets, j);
        println!("target: {} — {}", c.what, if met { "met" } else { "MISSED" });
    }
    let mut failed = Vec::new();
    for (j, c) in first.invariants.iter().enumerate() {
        let holds = held(&|r: &Report| &r.invariants, j);
        println!(
            "invariant: {} — {}",
            c.what,
            if holds { "holds" } else { "DOES NOT HOLD" }
        );
        if !holds {
            failed.push(c.what.clone());
        }
    }
    let n = first.invariants.len();
    if failed.is_empty() {
        println!("verdict: PASS (all {n} invariants hold in every run)");
        true
    } else {
        println!(
            "verdict: FAIL ({} of {n} invariants do not hold: {})",
            failed.len(),
            failed.join("; ")
        );
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_units() {
        assert_eq!(show(3.0, Unit::Count), "3");
        assert_eq!(show(1.25, Unit::Ms), "1.2 ms");
        assert_eq!(show(f64::INFINITY, Unit::Ratio), "∞ (all on one)");
        assert_eq!(show(f64::NAN, Unit::Ratio), "-");
    }

    #[test]
    fn notes_are_stored_printable() {
        let mut r = Report::default();
        r.note("first failure: bad id \u{1b}[2J\r\nverdict: PASS\u{202e}");
        assert_eq!(
            r.notes,
            ["first failure: bad id \\u{1b}[2J\\u{d}\\u{a}verdict: PASS\\u{202e}"]
        );
    }

    #[test]
    fn verdict_fails_when_one_run_breaks_an_invariant() {
        let run = |ok: bool| {
            let mut r = Report::default();
            r.row("failures", if ok { 0.0 } else { 1.0 }, Unit::Count);
            r.invariant("no failures", ok);
            r
        };
        assert!(print("t", &[run(true), run(true)]));
        assert!(!print("t", &[run(true), run(false)]));
        assert!(!print("t", &[]));
    }
}
