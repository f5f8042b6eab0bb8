//! Loading keeps f32 and 16-bit checkpoints in the memory map (zero copy),
//! and counts every parameter once.

mod common;

#[test]
fn f32_llama_weights_stay_in_the_map() {
    let model = common::load("tiny-llama");
    let params = model.param_count();
    assert_eq!(model.weight_bytes(), (params * 4, 0));
}

#[test]
fn bf16_weights_stay_in_the_map_and_only_norm_gains_are_widened() {
    let model = common::load("tiny-llama-bf16");
    let c = model.config();
    let norm_params = (2 * c.num_layers + 1) * c.hidden_size;
    let params = model.param_count();
    assert_eq!(
        model.weight_bytes(),
        ((params - norm_params) * 2, norm_params * 4)
    );
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
