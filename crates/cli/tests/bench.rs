//! `smallmind bench`: the llama-bench-like table and its bad flags.

use std::process::{Command, Output};

fn smallmind(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smallmind"))
        .args(args)
        .output()
        .expect("the smallmind binary runs")
}

#[test]
fn prints_one_row_per_test_and_thread_count() {
    let out = smallmind(&[
        "bench", "-m", "m-small", "-p", "16,32", "-n", "8", "-t", "1,2", "-r", "2",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("| m-small |"))
        .collect();
    assert_eq!(rows.len(), 6, "{table}");
    for (threads, test) in [(1, "pp16"), (1, "pp32"), (1, "tg8"), (2, "tg8")] {
        assert!(
            rows.iter()
                .any(|r| r.contains(&format!("| {threads} | {test} |"))),
            "no {test} at {threads} threads in\n{table}"
        );
    }
}

#[test]
fn bad_flags_get_clear_errors() {
    let cases: [(&[&str], &str); 3] = [
        (&["bench", "-m", "m-small", "-r", "0"], "--repetitions"),
        (&["bench", "-m", "nowhere"], "is not a GGUF file"),
        (&["bench", "-m", "m-small", "-p", "100"], "context"),
    ];
    for (args, needle) in cases {
        let out = smallmind(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(needle),
            "{args:?}: {err}"
        );
    }
}
