#![allow(missing_docs)]
use smallmind_model::*;
use std::sync::Arc;
use std::time::Instant;

fn cpu_secs() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let f: Vec<&str> = s.rsplit(')').next().unwrap().split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}
fn main() {
    let which = std::env::args().nth(1).unwrap_or("m-small".into());
    let threads: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(1);
    let m = Arc::new(if which.starts_with("m-") {
        Preset::parse(&which).unwrap().model(42).unwrap()
    } else {
        loader::load_dir(&which).unwrap()
    });
    let ctx = m.config().max_position_embeddings;
    let mut s = Session::new(
        m,
        &SessionOptions {
            threads: Some(threads),
            capacity: Some(ctx.min(1024)),
            ..Default::default()
        },
    )
    .unwrap();
    let n = ctx.min(64);
    s.install(|s| {
        for _ in 0..3 {
            s.reset();
            for i in 0..n {
                s.decode(i as u32).unwrap();
            }
        }
        let reps: usize = std::env::var("REPS")
            .ok()
            .map(|s| s.parse().unwrap())
            .unwrap_or(200);
        let t0 = Instant::now();
        let c0 = cpu_secs();
        for _ in 0..reps {
            s.reset();
            for i in 0..n {
                s.decode(i as u32).unwrap();
            }
        }
        let el = t0.elapsed().as_secs_f64();
        let cpu = cpu_secs() - c0;
        println!(
            "{which} {threads}t: decode {:.0} tok/s ({:.2} us/tok), cpu-time based {:.0}",
            (reps * n) as f64 / el,
            el * 1e6 / (reps * n) as f64,
            (reps * n) as f64 / cpu
        );
    });
}
