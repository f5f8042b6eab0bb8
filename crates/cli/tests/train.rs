//! `smallmind train`: a short run writes a checkpoint that `generate` and
//! `train --resume` load, and bad input (empty data, a corpus shorter than
//! the context, a checkpoint of another shape, a corrupt checkpoint) gets a
//! clear error without touching what is already saved.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn smallmind(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smallmind"))
        .args(args)
        .output()
        .expect("the smallmind binary runs")
}

fn ok(out: Output) -> (String, String) {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (String::from_utf8(out.stdout).unwrap(), stderr)
}

fn fails_with(out: Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains(needle),
        "wanted {needle:?}, got: {err}"
    );
}

/// A quick run on a small corpus: 30 steps of M-small at batch 4, context 32.
fn train(data: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "train",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--batch-size",
        "4",
        "--context",
        "32",
        "--eval-interval",
        "10",
        "--eval-batches",
        "2",
        "--threads",
        "1",
    ];
    args.extend_from_slice(extra);
    smallmind(&args)
}

fn write_corpus(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("corpus.txt");
    fs::write(
        &path,
        "the quick brown fox jumps over the lazy dog. ".repeat(300),
    )
    .unwrap();
    path
}

#[test]
fn train_then_generate_then_resume() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_corpus(dir.path());
    let ckpt = dir.path().join("ckpt");
    let (sample, log) = ok(train(
        &data,
        &ckpt,
        &["--steps", "30", "--sample-chars", "40"],
    ));
    assert!(log.contains("step 30: train loss"), "{log}");
    assert!(
        sample.trim_end_matches('\n').chars().count() >= 40,
        "{sample:?}"
    );
    for file in [
        "config.json",
        "model.safetensors",
        "tokenizer_chars.json",
        "optimizer.safetensors",
        "trainer_state.json",
    ] {
        assert!(ckpt.join(file).is_file(), "{file}");
    }
    let (text, _) = ok(smallmind(&[
        "generate",
        "-m",
        ckpt.to_str().unwrap(),
        "-p",
        "the ",
        "-n",
        "12",
        "--temperature",
        "0",
    ]));
    assert!(
        text.trim_end_matches('\n').chars().count() >= 12,
        "{text:?}"
    );
    let (_, log) = ok(train(&data, &ckpt, &["--steps", "40", "--resume"]));
    assert!(log.contains("step 40: train loss"), "{log}");
    assert!(
        !log.contains("step 10:"),
        "a resumed run starts at its step: {log}"
    );
}

#[test]
fn bad_data_gets_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ckpt");
    let empty = dir.path().join("empty.txt");
    fs::write(&empty, "").unwrap();
    fails_with(train(&empty, &out, &["--steps", "5"]), "empty");
    let short = dir.path().join("short.txt");
    fs::write(&short, "too short for a context of 32").unwrap();
    fails_with(train(&short, &out, &["--steps", "5"]), "shorter");
    fails_with(
        train(&dir.path().join("missing.txt"), &out, &["--steps", "5"]),
        "missing.txt",
    );
    assert!(
        !out.exists(),
        "nothing is written for a run that cannot start"
    );
}

#[test]
fn bad_checkpoints_get_clear_errors_and_stay_intact() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_corpus(dir.path());
    let ckpt = dir.path().join("ckpt");
    ok(train(
        &data,
        &ckpt,
        &["--steps", "5", "--sample-chars", "0"],
    ));
    let weights = fs::read(ckpt.join("model.safetensors")).unwrap();
    // Another shape than the checkpoint's.
    fails_with(
        train(
            &data,
            &ckpt,
            &["--steps", "10", "--resume", "--preset", "m-medium"],
        ),
        "n_embd",
    );
    assert_eq!(fs::read(ckpt.join("model.safetensors")).unwrap(), weights);
    // A truncated weight file.
    fs::write(
        ckpt.join("model.safetensors"),
        &weights[..weights.len() / 2],
    )
    .unwrap();
    fails_with(
        train(&data, &ckpt, &["--steps", "10", "--resume"]),
        "model.safetensors",
    );
    fails_with(
        smallmind(&["generate", "-m", ckpt.to_str().unwrap(), "-p", "the"]),
        "model.safetensors",
    );
    assert_eq!(
        fs::read(ckpt.join("model.safetensors")).unwrap().len(),
        weights.len() / 2,
        "a failed resume writes nothing"
    );
    // Resuming where there is no checkpoint.
    fails_with(
        train(
            &data,
            &dir.path().join("none"),
            &["--steps", "10", "--resume"],
        ),
        "checkpoint",
    );
}

/// Ctrl-C (SIGINT) stops a long run after the current step and saves a
/// checkpoint that resumes.
#[cfg(unix)]
#[test]
fn interrupt_saves_a_checkpoint() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let data = write_corpus(dir.path());
    let ckpt = dir.path().join("ckpt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_smallmind"))
        .args([
            "train",
            "--data",
            data.to_str().unwrap(),
            "--out",
            ckpt.to_str().unwrap(),
            "--steps",
            "1000000",
            "--batch-size",
            "4",
            "--context",
            "32",
            "--eval-interval",
            "20",
            "--eval-batches",
            "1",
            "--threads",
            "1",
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        log.push_str(&line);
        log.push('\n');
        if line.starts_with("step 20:") {
            break;
        }
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    for line in lines {
        log.push_str(&line.unwrap());
        log.push('\n');
    }
    assert!(child.wait().unwrap().success(), "{log}");
    assert!(log.contains("interrupted at step"), "{log}");
    let state = fs::read_to_string(ckpt.join("trainer_state.json")).unwrap();
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert!(state["step"].as_u64().unwrap() >= 20, "{state}");
    let (_, log) = ok(train(&data, &ckpt, &["--steps", "0", "--resume"]));
    assert!(!log.contains("error"), "{log}");
}
