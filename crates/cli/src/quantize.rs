//! `smallmind quantize`: rewrites a GGUF file in a llama.cpp mixture (`Q4_K_M`,
//! `Q5_K_M`, `Q2_K`, `IQ4_XS`, ...) or one registered type. The planning and
//! the quantizers are the library's (`smallmind_model::quantize`); this
//! command parses flags and prints what was done.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use smallmind_model::quantize::{Target, quantize_gguf};

type BoxError = Box<dyn std::error::Error>;

/// Flags of `smallmind quantize`.
#[derive(Args, Debug)]
pub(crate) struct QuantizeArgs {
    /// The input GGUF (F32, F16 or BF16 weights).
    #[arg(short, long)]
    input: PathBuf,
    /// The output GGUF.
    #[arg(short, long)]
    output: PathBuf,
    /// A llama.cpp mixture (Q4_K_M, Q4_K_S, Q5_K_M, Q6_K, Q3_K_M, Q2_K, IQ4_XS,
    /// Q8_0, Q4_0, ...) or a single registered type (Q4_K, IQ2_XS, ...); case
    /// is ignored.
    #[arg(long = "type")]
    ty: String,
    /// Every weight in the type's base type, without the mixture's per-tensor
    /// rules (as `llama-quantize --pure`); rows that are not whole blocks still
    /// fall back.
    #[arg(long)]
    pure: bool,
}

/// Runs `smallmind quantize`.
pub(crate) fn quantize(args: &QuantizeArgs) -> Result<(), BoxError> {
    let target = Target::parse(&args.ty, args.pure)?;
    let summary = quantize_gguf(&args.input, &args.output, &target)?;
    let mut counts = BTreeMap::new();
    for tensor in &summary.tensors {
        *counts.entry(tensor.type_name()).or_insert(0usize) += 1;
    }
    let counts: Vec<String> = counts.iter().map(|(t, n)| format!("{t}: {n}")).collect();
    eprintln!(
        "{} tensors ({}): {:.1} MB → {:.1} MB, written to {}",
        summary.tensors.len(),
        counts.join(", "),
        summary.bytes_in as f64 / 1e6,
        summary.bytes_out as f64 / 1e6,
        args.output.display()
    );
    Ok(())
}
