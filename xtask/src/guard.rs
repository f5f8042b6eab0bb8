//! `cargo xtask baseline-guard [--base REV]`: no commit changes the instruction-count
//! baseline without saying why.
//!
//! Every commit that modifies [`BASELINE_PATH`] must
//! - carry the trailer `Icount-Resave: <reason>` ([`RESAVE_TRAILER`]) with a non-empty reason,
//!   read the way git reads trailers (`git interpret-trailers --parse`): `Key: value` lines
//!   in the last paragraph of the message;
//! - change [`HISTORY_PATH`] as well, where `cargo xtask bench --save-baseline` appended the
//!   per-bench diff of the re-save (merge commits, which carry no diff of their own, are
//!   exempt from this part).
//!
//! The commits are those `git log -- benches/baseline/icount.json` lists: with git's default
//! history simplification a merge is listed only when its baseline differs from every
//! parent's, i.e. when it resolved the file by hand. Without `--base` the whole history of
//! `HEAD` is checked, which is what CI does on a fresh clone, so a re-save cannot slip in
//! under a merge or an earlier commit of the same push. The commits that changed the
//! baseline before this guard existed ([`BEFORE_THE_GUARD`]) are exempt. A shallow clone is
//! an error: commits missing from it could not be checked.

use std::path::Path;

use crate::bench::{BASELINE_PATH, HISTORY_PATH};
use crate::git::git;

/// The commit-message trailer that names the reason for a baseline change.
pub(crate) const RESAVE_TRAILER: &str = "Icount-Resave";

/// The commits that re-saved the baseline before the guard existed, on `main` (so their
/// hashes never change): the first baseline and three re-saves, whose reasons are in
/// their subjects.
const BEFORE_THE_GUARD: [&str; 4] = [
    "bd931c80db0b71eed25352846cd5da40bc8735cb",
    "c19d1984f22ae98c4b31031cf9b21dd1b296523a",
    "64017a6a386b488c3b9db8c8c1ab21657ef4574d",
    "9ee7edff0a569f9fd5a7df9b9259ad1518caca64",
];

/// Flags of `cargo xtask baseline-guard`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Only check the commits in REV..HEAD [default: the whole history of HEAD].
    #[arg(long, value_name = "REV")]
    base: Option<String>,
}

/// One commit that changed the baseline, as `git log` reports it.
#[derive(Clone, Debug, PartialEq)]
struct Commit {
    hash: String,
    subject: String,
    /// More than one parent.
    merge: bool,
    /// The values of every `Icount-Resave` trailer (empty when there is none).
    reasons: Vec<String>,
    /// Every file the commit changed (none for a merge).
    files: Vec<String>,
}

impl Commit {
    /// What the commit lacks; empty when it follows the rule.
    fn faults(&self) -> Vec<String> {
        let mut faults = Vec::new();
        if !self.reasons.iter().any(|r| !r.trim().is_empty()) {
            faults.push(format!("no `{RESAVE_TRAILER}: <reason>` trailer"));
        }
        if !self.merge && !self.files.iter().any(|f| f == HISTORY_PATH) {
            faults.push(format!(
                "{HISTORY_PATH} unchanged (no entry from `cargo xtask bench --save-baseline`)"
            ));
        }
        faults
    }
}

/// Runs the task.
pub(crate) fn run(args: &Args) -> Result<(), String> {
    let root = crate::workspace_root();
    let commits = baseline_commits(&root, args.base.as_deref())?;
    let (exempt, checked): (Vec<&Commit>, Vec<&Commit>) = commits
        .iter()
        .partition(|c| BEFORE_THE_GUARD.contains(&c.hash.as_str()));
    let offenders: Vec<(&Commit, Vec<String>)> = checked
        .iter()
        .map(|&c| (c, c.faults()))
        .filter(|(_, faults)| !faults.is_empty())
        .collect();
    let range = args
        .base
        .as_ref()
        .map_or("the history of HEAD".to_string(), |b| format!("{b}..HEAD"));
    if offenders.is_empty() {
        println!(
            "baseline guard passed: {} commit(s) in {range} changed {BASELINE_PATH}, each with \
             an `{RESAVE_TRAILER}` trailer and a {HISTORY_PATH} entry ({} older one(s) exempt).",
            checked.len(),
            exempt.len()
        );
        return Ok(());
    }
    println!(
        "baseline guard FAILED: commits in {range} changed {BASELINE_PATH} without saying why:\n"
    );
    for (commit, faults) in &offenders {
        println!("  {} {}", &commit.hash[..12], commit.subject);
        for fault in faults {
            println!("      {fault}");
        }
    }
    println!(
        "\nRe-save only with `cargo xtask bench --save-baseline --reason \"...\"`, which appends \
         the diff to {HISTORY_PATH} and prints the trailer; end the commit message with it \
         (a blank line, then `{RESAVE_TRAILER}: <reason>`). Fix a commit's message with \
         `git commit --amend` or `git rebase -i` (reword). See docs/profiling.md."
    );
    Err(format!(
        "{} commit(s) changed the instruction-count baseline without an `{RESAVE_TRAILER}` \
         trailer or a history entry",
        offenders.len()
    ))
}

/// The commits in `base..HEAD` (all of HEAD's history without a base) that changed the
/// baseline, newest first.
fn baseline_commits(root: &Path, base: Option<&str>) -> Result<Vec<Commit>, String> {
    if git(root, &["rev-parse", "--is-shallow-repository"])?.trim() == "true" {
        return Err(
            "this is a shallow clone: the baseline guard needs the whole history \
                    (`git fetch --unshallow`)"
                .into(),
        );
    }
    let format = format!(
        "--format={RECORD}%H{FIELD}%P{FIELD}%s{FIELD}\
         %(trailers:key={RESAVE_TRAILER},valueonly,separator=%x1d){FIELD}"
    );
    let range = base.map_or("HEAD".to_string(), |b| format!("{b}..HEAD"));
    let log = git(
        root,
        &[
            "log",
            "--full-diff",
            "--name-only",
            &format,
            &range,
            "--",
            BASELINE_PATH,
        ],
    )?;
    parse_log(&log)
}

/// Starts a commit in the `git log` output (ASCII record separator).
const RECORD: &str = "%x1e";
/// Ends each field of a commit (ASCII unit separator); the file names follow the last.
const FIELD: &str = "%x1f";

/// Reads the output of [`baseline_commits`]'s `git log`.
fn parse_log(log: &str) -> Result<Vec<Commit>, String> {
    let records = log.split('\x1e').filter(|r| !r.trim().is_empty());
    records
        .map(|record| {
            let fields: Vec<&str> = record.splitn(5, '\x1f').collect();
            let [hash, parents, subject, trailers, files] = fields[..] else {
                return Err(format!("unexpected `git log` output: {record:?}"));
            };
            Ok(Commit {
                hash: hash.to_string(),
                subject: subject.to_string(),
                merge: parents.split_whitespace().count() > 1,
                reasons: trailers
                    .split('\x1d')
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(String::from)
                    .collect(),
                files: files
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(parents: &str, trailers: &str, files: &[&str]) -> String {
        format!(
            "\x1eabcdef0123456789\x1f{parents}\x1fsubject\x1f{trailers}\x1f\n\n{}\n",
            files.join("\n")
        )
    }

    fn parse_one(parents: &str, trailers: &str, files: &[&str]) -> Commit {
        let commits = parse_log(&record(parents, trailers, files)).unwrap();
        assert_eq!(commits.len(), 1);
        commits.into_iter().next().unwrap()
    }

    #[test]
    fn a_resave_with_trailer_and_history_passes() {
        let c = parse_one("p1", "add the Q4_1 benches", &[BASELINE_PATH, HISTORY_PATH]);
        assert_eq!(c.reasons, ["add the Q4_1 benches"]);
        assert!(!c.merge);
        assert!(c.faults().is_empty(), "{:?}", c.faults());
    }

    #[test]
    fn a_missing_or_empty_trailer_fails() {
        for trailers in ["", "  ", "\x1d"] {
            let c = parse_one("p1", trailers, &[BASELINE_PATH, HISTORY_PATH]);
            let faults = c.faults();
            assert_eq!(faults.len(), 1, "{trailers:?}");
            assert!(faults[0].contains(RESAVE_TRAILER));
        }
    }

    #[test]
    fn a_resave_without_history_fails() {
        let c = parse_one("p1", "why", &[BASELINE_PATH, "xtask/src/bench.rs"]);
        let faults = c.faults();
        assert_eq!(faults.len(), 1);
        assert!(faults[0].contains(HISTORY_PATH));
    }

    #[test]
    fn a_merge_needs_the_trailer_but_no_diff() {
        assert!(parse_one("p1 p2", "why", &[]).faults().is_empty());
        assert_eq!(parse_one("p1 p2", "", &[]).faults().len(), 1);
    }

    #[test]
    fn several_commits_and_trailers_are_read() {
        let log = record("p1", "first\x1dsecond", &[BASELINE_PATH]) + &record("p2", "", &[]);
        let commits = parse_log(&log).unwrap();
        assert_eq!(commits.len(), 2);
        assert_eq!(commits[0].reasons, ["first", "second"]);
        assert_eq!(commits[0].files, [BASELINE_PATH]);
        assert!(commits[1].reasons.is_empty());
    }
}
