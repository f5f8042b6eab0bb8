//! The committed instruction-count baseline ([`super::BASELINE_PATH`]).
//!
//! A small JSON object, written by hand so that it diffs well: the conditions the counts
//! were taken under (rustc, valgrind, gungraun, SIMD path), then `counts`, one bench per
//! line, sorted by id:
//!
//! ```json
//! {
//!   "about": "...",
//!   "rustc": "rustc 1.95.0 (...)",
//!   "valgrind": "valgrind-3.19.0",
//!   "gungraun": "0.20.0",
//!   "simd_path": "v3",
//!   "counts": {
//!     "kernels_icount::kernels_v3::gemm_v3::nn_128": 564105,
//!     "model_icount::model_v3::decode_one_token::m_small": 369043
//!   }
//! }
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::ICOUNT_SIMD_PATH;
use super::icount::Tools;

/// What the file says about itself.
const ABOUT: &str = "Instruction counts (callgrind Ir) of the gungraun benches in \
                     benches/benches/*_icount.rs. `cargo xtask bench --check` fails when one \
                     grows by more than 2%; `cargo xtask bench --save-baseline` rewrites this \
                     file (only for an intended change, see xtask/src/bench.rs).";

/// The conditions instruction counts depend on, besides the code.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Meta {
    /// `rustc --version` of the workspace toolchain.
    pub(crate) rustc: String,
    /// `valgrind --version`.
    pub(crate) valgrind: String,
    /// The gungraun version.
    pub(crate) gungraun: String,
    /// The SIMD path the benches force.
    pub(crate) simd_path: String,
}

impl Meta {
    /// The conditions of a run now, in `root`.
    pub(crate) fn current(root: &Path, tools: Tools) -> Result<Meta, String> {
        Ok(Meta {
            rustc: rustc_version(root)?,
            valgrind: tools.valgrind,
            gungraun: tools.gungraun,
            simd_path: ICOUNT_SIMD_PATH.to_string(),
        })
    }

    /// The fields, in file order, as `(key, value)`.
    fn fields(&self) -> [(&'static str, &str); 4] {
        [
            ("rustc", &self.rustc),
            ("valgrind", &self.valgrind),
            ("gungraun", &self.gungraun),
            ("simd_path", &self.simd_path),
        ]
    }

    /// One line per field that differs: `rustc: baseline A, this run B`.
    pub(crate) fn differences(&self, now: &Meta) -> Vec<String> {
        self.fields()
            .into_iter()
            .zip(now.fields())
            .filter(|((_, old), (_, new))| old != new)
            .map(|((key, old), (_, new))| format!("{key}: baseline `{old}`, this run `{new}`"))
            .collect()
    }
}

/// `rustc --version` as the workspace's toolchain file selects it.
fn rustc_version(root: &Path) -> Result<String, String> {
    let output = Command::new("rustc")
        .arg("--version")
        .current_dir(root)
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if !output.status.success() || text.is_empty() {
        return Err("`rustc --version` failed".into());
    }
    Ok(text)
}

/// Instruction counts per bench id, with the conditions they were taken under.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Baseline {
    /// Conditions.
    pub(crate) meta: Meta,
    /// `Ir` per bench id (`FILE::GROUP::FUNCTION::ID`).
    pub(crate) counts: BTreeMap<String, u64>,
}

impl Baseline {
    /// Reads the baseline at `path`; `None` if there is no file.
    pub(crate) fn load(path: &Path) -> Result<Option<Baseline>, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        Baseline::parse(&text)
            .map(Some)
            .map_err(|e| format!("{} is not a valid baseline: {e}", path.display()))
    }

    fn parse(text: &str) -> Result<Baseline, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let field = |key: &str| -> Result<String, String> {
            let text = value[key].as_str().ok_or(format!("no string `{key}`"))?;
            Ok(text.to_string())
        };
        let meta = Meta {
            rustc: field("rustc")?,
            valgrind: field("valgrind")?,
            gungraun: field("gungraun")?,
            simd_path: field("simd_path")?,
        };
        let entries = value["counts"].as_object().ok_or("no object `counts`")?;
        let mut counts = BTreeMap::new();
        for (id, count) in entries {
            let count = count.as_u64().ok_or(format!("`{id}` is not a count"))?;
            counts.insert(id.clone(), count);
        }
        Ok(Baseline { meta, counts })
    }

    /// This baseline with `newer`'s counts written over it and `newer`'s conditions (a
    /// filtered `--save-baseline`).
    pub(crate) fn merged(mut self, newer: Baseline) -> Baseline {
        self.counts.extend(newer.counts);
        Baseline {
            meta: newer.meta,
            counts: self.counts,
        }
    }

    /// The file text: see the module docs.
    fn render(&self) -> String {
        let quote = |s: &str| Value::from(s).to_string();
        let mut text = format!("{{\n  \"about\": {},\n", quote(ABOUT));
        for (key, value) in self.meta.fields() {
            text += &format!("  \"{key}\": {},\n", quote(value));
        }
        text += "  \"counts\": {\n";
        let lines: Vec<String> = (self.counts.iter())
            .map(|(id, count)| format!("    {}: {count}", quote(id)))
            .collect();
        text += &lines.join(",\n");
        text += "\n  }\n}\n";
        text
    }

    /// Writes the baseline to `path`, creating its directory.
    pub(crate) fn save(&self, path: &Path) -> Result<(), String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::write(path, self.render())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Baseline {
        Baseline {
            meta: Meta {
                rustc: "rustc 1.95.0".into(),
                valgrind: "valgrind-3.19.0".into(),
                gungraun: "0.20.0".into(),
                simd_path: "v3".into(),
            },
            counts: [("b::x".to_string(), 20), ("a::y".to_string(), 10)].into(),
        }
    }

    #[test]
    fn renders_one_sorted_bench_per_line_and_reads_back() {
        let baseline = sample();
        let text = baseline.render();
        let a = text.find("\"a::y\": 10,\n").unwrap();
        let b = text.find("\"b::x\": 20\n").unwrap();
        assert!(a < b);
        assert_eq!(Baseline::parse(&text).unwrap(), baseline);
    }

    #[test]
    fn merging_keeps_other_benches_and_takes_new_conditions() {
        let mut newer = sample();
        newer.meta.rustc = "rustc 1.96.0".into();
        newer.counts = [("a::y".to_string(), 11)].into();
        let merged = sample().merged(newer);
        assert_eq!(merged.counts["a::y"], 11);
        assert_eq!(merged.counts["b::x"], 20);
        assert_eq!(merged.meta.rustc, "rustc 1.96.0");
    }

    #[test]
    fn differences_name_the_changed_fields() {
        let mut now = sample().meta;
        now.valgrind = "valgrind-3.22.0".into();
        let diffs = sample().meta.differences(&now);
        assert_eq!(diffs.len(), 1);
        assert!(diffs[0].starts_with("valgrind:"));
    }
}
