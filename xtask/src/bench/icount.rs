//! Running the gungraun instruction-count benches and reading their counts.
//!
//! The benches run through `cargo bench` with gungraun's `--output-format=json`: every
//! finished bench prints one JSON summary line on stdout (everything else goes to stderr,
//! which stays on the terminal). A bench is named by its module path and id,
//! `FILE::GROUP::FUNCTION::ID` (what gungraun's filter matches), and its count is the
//! callgrind `Ir` total over all threads and parts of its run.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::{BENCH_SELECTION, ICOUNT_BENCHES, cargo};

/// Versions of the external tools the counts depend on.
pub(crate) struct Tools {
    /// `valgrind --version`, e.g. `valgrind-3.19.0`.
    pub(crate) valgrind: String,
    /// The gungraun version (library and runner agree).
    pub(crate) gungraun: String,
}

/// Checks that valgrind and the gungraun runner of the library's exact version are installed.
pub(crate) fn check_tools(root: &Path) -> Result<Tools, String> {
    let valgrind = tool_version("valgrind")
        .ok_or("valgrind not found: install it (Debian/Ubuntu: `sudo apt-get install valgrind`)")?;
    let wanted = locked_gungraun_version(root)?;
    let install = format!("cargo install gungraun-runner --version {wanted} --locked");
    let runner = tool_version("gungraun-runner")
        .ok_or_else(|| format!("gungraun-runner not found: install it with `{install}`"))?;
    let found = runner.split_whitespace().nth(1).unwrap_or_default();
    if found != wanted {
        return Err(format!(
            "gungraun-runner is {found}, the benches use gungraun {wanted}: `{install}`"
        ));
    }
    Ok(Tools {
        valgrind,
        gungraun: wanted,
    })
}

/// The first line of `<tool> --version`, if the tool runs.
fn tool_version(tool: &str) -> Option<String> {
    let output = Command::new(tool).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().next()?.trim().to_string();
    (output.status.success() && !line.is_empty()).then_some(line)
}

/// The version of the `gungraun` package in `Cargo.lock`.
fn locked_gungraun_version(root: &Path) -> Result<String, String> {
    let path = root.join("Cargo.lock");
    let lock = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == r#"name = "gungraun""# {
            let version = lines.next().unwrap_or_default();
            if let Some(v) = version.trim().strip_prefix("version = ") {
                return Ok(v.trim_matches('"').to_string());
            }
        }
    }
    Err("Cargo.lock has no `gungraun` package".into())
}

/// Runs every instruction-count bench matching `filter`; returns `Ir` per bench id (none if
/// the filter matches none).
pub(crate) fn run(root: &Path, filter: Option<&str>) -> Result<BTreeMap<String, u64>, String> {
    let mut command = cargo(root);
    command.args(["bench", BENCH_SELECTION]);
    for bench in ICOUNT_BENCHES {
        command.args(["--bench", bench]);
    }
    command.args(["--", "--output-format=json"]);
    if let Some(filter) = filter {
        command.arg(gungraun_filter(filter));
    }
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "the instruction-count benches failed ({}); see the output above",
            output.status
        ));
    }
    let counts = parse_summaries(&String::from_utf8_lossy(&output.stdout))?;
    if counts.is_empty() && filter.is_none() {
        return Err("the instruction-count benches reported nothing".into());
    }
    Ok(counts)
}

/// Gungraun's filter for `filter`: a glob as given, a plain string as the substring `*X*`.
fn gungraun_filter(filter: &str) -> String {
    if filter.contains(['*', '?', '[']) {
        filter.to_string()
    } else {
        format!("*{filter}*")
    }
}

/// Reads the JSON summary lines of a gungraun run.
fn parse_summaries(stdout: &str) -> Result<BTreeMap<String, u64>, String> {
    let mut counts = BTreeMap::new();
    for line in stdout.lines().filter(|l| l.starts_with('{')) {
        let summary: Value =
            serde_json::from_str(line).map_err(|e| format!("bad gungraun summary line: {e}"))?;
        let (id, ir) = bench_count(&summary)?;
        if ir == 0 {
            return Err(format!(
                "`{id}` counted 0 instructions: its callgrind entry point matched nothing"
            ));
        }
        counts.insert(id, ir);
    }
    Ok(counts)
}

/// The id (`module_path::id`) and callgrind `Ir` total of one bench summary.
fn bench_count(summary: &Value) -> Result<(String, u64), String> {
    let module = summary["module_path"]
        .as_str()
        .ok_or("gungraun summary without `module_path`")?;
    let id = match summary["id"].as_str() {
        Some(bench_id) => format!("{module}::{bench_id}"),
        None => module.to_string(),
    };
    let callgrind = summary["profiles"]
        .as_array()
        .and_then(|profiles| profiles.iter().find(|p| p["tool"] == "Callgrind"))
        .ok_or_else(|| format!("`{id}`: no callgrind profile in the gungraun summary"))?;
    let ir = callgrind["data"]["total"]["metrics"]["Ir"]["values"]["new"]
        .as_u64()
        .ok_or_else(|| format!("`{id}`: no callgrind `Ir` total in the gungraun summary"))?;
    Ok((id, ir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_filters_become_substring_globs() {
        assert_eq!(gungraun_filter("gemm"), "*gemm*");
        assert_eq!(gungraun_filter("ops_icount::*"), "ops_icount::*");
        assert_eq!(gungraun_filter("*::m_small"), "*::m_small");
    }

    #[test]
    fn reads_the_ir_total_of_each_summary() {
        let line = r#"{"module_path":"k::g::f","id":"a","profiles":[{"tool":"Callgrind",
            "data":{"total":{"metrics":{"Ir":{"values":{"new":42,"old":40}}}}}}]}"#
            .replace('\n', "");
        let stdout = format!("noise\n{line}\n");
        let counts = parse_summaries(&stdout).unwrap();
        assert_eq!(counts.get("k::g::f::a"), Some(&42));
    }

    #[test]
    fn a_zero_count_is_an_error() {
        let line = r#"{"module_path":"k::g::f","id":"a","profiles":[{"tool":"Callgrind","data":{"total":{"metrics":{"Ir":{"values":{"new":0}}}}}}]}"#;
        assert!(parse_summaries(line).unwrap_err().contains("entry point"));
    }
}
