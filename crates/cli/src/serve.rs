//! `smallmind serve`: flags for the OpenAI-compatible server (`smallmind-server`), which does
//! everything else.

use std::time::Duration;

use clap::Args;
use smallmind_server::ServerConfig;

/// Flags of `smallmind serve`.
#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// A GGUF file, a Hugging Face directory or a `smallmind train` checkpoint.
    #[arg(short, long)]
    model: String,
    /// The address to listen on. Without `--api-key`, keep it on loopback.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The port (0: any free one, printed at start).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Sequences served at once, each with its own KV cache.
    #[arg(long, default_value_t = 4)]
    slots: usize,
    /// KV-cache positions per slot [default: the model's context, at most 2048].
    #[arg(long)]
    ctx: Option<usize>,
    /// Worker threads [default: the physical cores].
    #[arg(short, long)]
    threads: Option<usize>,
    /// Require `Authorization: Bearer KEY` on every endpoint but /health.
    #[arg(long)]
    api_key: Option<String>,
    /// Requests that may wait for a slot; beyond that the server answers 429.
    #[arg(long, default_value_t = 64)]
    max_queue: usize,
    /// Seconds a request may take, queueing included.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// A built-in chat format (chatml, smollm2, llama3, mistral, gemma) over the model's own.
    #[arg(long)]
    chat_template: Option<String>,
}

/// Runs `smallmind serve` until SIGTERM or Ctrl-C.
pub(crate) fn serve(args: &ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    let config = ServerConfig {
        chat_template: args.chat_template.clone(),
        slots: args.slots,
        context: args.ctx,
        threads: args.threads,
        api_key: args.api_key.clone(),
        max_queue: args.max_queue,
        timeout: Duration::from_secs(args.timeout),
        ..ServerConfig::new(args.model.clone())
    };
    smallmind_server::run(config, &args.host, args.port, |address| {
        eprintln!(
            "smallmind serve: listening on http://{address} (loading {})",
            args.model
        );
    })?;
    Ok(())
}
