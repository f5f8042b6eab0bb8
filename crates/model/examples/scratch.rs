#![allow(missing_docs)]
use smallmind_model::*;
use smallmind_tensor::Tensor;
use std::sync::Arc;
use std::time::Instant;

fn cfg(v: usize, ctx: usize, d: usize, l: usize, h: usize) -> ModelConfig {
    ModelConfig {
        architecture: Architecture::Gpt2,
        vocab_size: v,
        hidden_size: d,
        num_layers: l,
        num_heads: h,
        num_kv_heads: h,
        head_dim: d / h,
        intermediate_size: 4 * d,
        max_position_embeddings: ctx,
        norm_eps: 1e-5,
        rope_theta: 10000.0,
        activation: Activation::GeluTanh,
        tie_word_embeddings: false,
        attention_bias: true,
        mlp_bias: true,
        bos_token_id: None,
        eos_token_ids: vec![],
    }
}

fn model(c: ModelConfig) -> Model {
    let mut m = TensorMap::new();
    let d = c.hidden_size;
    let v = c.vocab_size;
    let f = c.intermediate_size;
    let mut seed = 1u64;
    let mut t = |name: String, shape: Vec<usize>| {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.04
            })
            .collect();
        m.insert(name, Tensor::from_f32(&shape, &data).unwrap());
    };
    t("wte.weight".into(), vec![v, d]);
    t("wpe.weight".into(), vec![c.max_position_embeddings, d]);
    for i in 0..c.num_layers {
        let p = format!("h.{i}");
        for (n, s) in [
            ("ln_1.weight", vec![d]),
            ("ln_1.bias", vec![d]),
            ("attn.c_attn.weight", vec![d, 3 * d]),
            ("attn.c_attn.bias", vec![3 * d]),
            ("attn.c_proj.weight", vec![d, d]),
            ("attn.c_proj.bias", vec![d]),
            ("ln_2.weight", vec![d]),
            ("ln_2.bias", vec![d]),
            ("mlp.c_fc.weight", vec![d, f]),
            ("mlp.c_fc.bias", vec![f]),
            ("mlp.c_proj.weight", vec![f, d]),
            ("mlp.c_proj.bias", vec![d]),
        ] {
            t(format!("{p}.{n}"), s);
        }
    }
    t("ln_f.weight".into(), vec![d]);
    t("ln_f.bias".into(), vec![d]);
    t("lm_head.weight".into(), vec![v, d]);
    Model::from_tensors(c, m).unwrap()
}

fn cpu_secs() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let f: Vec<&str> = s.rsplit(')').next().unwrap().split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}
fn main() {
    let which = std::env::args().nth(1).unwrap_or("small".into());
    let threads: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(1);
    let c = match which.as_str() {
        "small" => cfg(256, 64, 128, 2, 4),
        "medium" => cfg(512, 128, 256, 4, 8),
        _ => cfg(50257, 1024, 768, 12, 12),
    };
    let ctx = c.max_position_embeddings;
    let m = Arc::new(model(c));
    let mut s = Session::new(
        m,
        &SessionOptions {
            threads: Some(threads),
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
        println!("cpu-time based: {:.0} tok/s", (reps * n) as f64 / cpu);
        println!(
            "{which} {threads}t: decode {:.0} tok/s ({:.2} us/tok)",
            (reps * n) as f64 / el,
            el * 1e6 / (reps * n) as f64
        );
    });
}
