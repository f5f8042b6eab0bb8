//! `smallmind profile` end to end: the report's contents, `--compare` flagging a span slowed
//! through the `--inject-delay` test hook, and bad flags.

use std::path::Path;
use std::process::{Command, Output};

use smallmind_telemetry::report::read_reports;

fn smallmind(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smallmind"))
        .args(args)
        .output()
        .expect("the smallmind binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Profiles M-small with 3 runs per pass into `dir`, plus `extra` flags.
fn profile_m_small(dir: &Path, extra: &[&str]) -> Output {
    let dir = dir.to_str().unwrap();
    let mut args = vec![
        "profile",
        "--model",
        "m-small",
        "--runs",
        "3",
        "--threads",
        "1",
    ];
    args.extend_from_slice(&["--out", dir]);
    args.extend_from_slice(extra);
    let out = smallmind(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

#[test]
fn the_report_has_the_figures_and_the_hot_path() {
    let dir = tempfile::tempdir().unwrap();
    let out = profile_m_small(dir.path(), &[]);
    let reports = read_reports(&dir.path().join("report.json")).unwrap();
    assert_eq!(reports.len(), 1);
    let report = &reports[0];
    assert_eq!(report.workload, "m-small/profile/1t");
    let metric = |name: &str| {
        report
            .metric(name)
            .unwrap_or_else(|| panic!("no {name}"))
            .value
    };
    assert!(metric("decode") > 0.0 && metric("prefill") > 0.0);
    assert!(metric("time to first token") > 0.0);
    assert_eq!(
        metric("decode heap allocations"),
        0.0,
        "steady-state decode allocates"
    );
    assert_eq!(metric("span entries per decode step"), 16.0);
    for path in [
        "decode",
        "decode/mlp",
        "decode/attention.core",
        "decode/lm_head",
        "prefill",
        "sample",
    ] {
        assert!(
            report.spans.iter().any(|r| r.path == path),
            "no span {path}"
        );
    }
    let decode = report.spans.iter().find(|r| r.path == "decode").unwrap();
    assert_eq!(
        decode.calls,
        3 * 3 * 49,
        "3 runs × 3 sessions × 49 decode steps"
    );
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(md.contains("### Hot path") && stdout(&out).contains("SIMD path"));
}

#[test]
fn compare_flags_a_slowed_span() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    profile_m_small(a.path(), &[]);
    profile_m_small(b.path(), &["--inject-delay", "mlp=300"]);
    let out = smallmind(&[
        "profile",
        "--compare",
        a.path().join("report.json").to_str().unwrap(),
        b.path().join("report.json").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let mlp = text
        .lines()
        .find(|l| l.starts_with("| decode/mlp |"))
        .unwrap_or_else(|| panic!("no decode/mlp row in\n{text}"));
    assert!(mlp.contains("⚠ slower"), "{mlp}");
    assert!(text.contains("Verdict: slower by"), "{text}");
    assert!(text.contains("- `decode/mlp`"), "{text}");
}

#[test]
fn bad_flags_get_clear_errors() {
    let cases: [(&[&str], &str); 4] = [
        (
            &["profile", "--model", "no-such-model"],
            "is not a GGUF file",
        ),
        (
            &["profile", "--model", "m-small", "--scenario", "pp128tg64"],
            "needs 192 positions",
        ),
        (&["profile", "--inject-delay", "mlp"], "SPAN=MICROS"),
        (
            &["profile", "--compare", "/no/such/a.json", "/no/such/b.json"],
            "/no/such/a.json",
        ),
    ];
    for (args, needle) in cases {
        let out = smallmind(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn the_chrome_trace_is_json_with_every_span() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.json");
    profile_m_small(dir.path(), &["--chrome-trace", trace.to_str().unwrap()]);
    let events: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&trace).unwrap()).unwrap();
    let names: std::collections::HashSet<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    for span in [
        "prefill",
        "decode",
        "sample",
        "mlp",
        "attention.core",
        "lm_head",
    ] {
        assert!(names.contains(span), "no {span} event");
    }
}
