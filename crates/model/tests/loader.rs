//! Loading keeps f32 checkpoints in the memory map (zero copy), widens
//! f16/bf16 once, and counts every parameter once.

mod common;

#[test]
fn f32_llama_weights_stay_in_the_map() {
    let model = common::load("tiny-llama");
    let params = model.param_count();
    assert_eq!(model.weight_bytes(), (params * 4, 0));
}

#[test]
fn bf16_weights_are_widened_once() {
    let model = common::load("tiny-llama-bf16");
    let params = model.param_count();
    assert_eq!(model.weight_bytes(), (0, params * 4));
}

#[test]
fn gpt2_conv1d_weights_are_transposed_the_rest_stays_mapped() {
    let model = common::load("tiny-gpt2");
    let c = model.config();
    let (d, f, layers) = (c.hidden_size, c.intermediate_size, c.num_layers);
    // c_attn, c_proj, c_fc, mlp.c_proj weights per block are owned (transposed).
    let transposed = layers * (d * 3 * d + d * d + d * f + f * d) * 4;
    let (mapped, owned) = model.weight_bytes();
    assert_eq!(owned, transposed);
    assert_eq!(mapped + owned, model.param_count() * 4);
}
