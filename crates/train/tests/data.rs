//! Text loading, the train/validation split, deterministic batches and the
//! bad-input errors.

use std::path::Path;

use smallmind_telemetry::alloc::{AllocCounts, CountingAllocator};
use smallmind_tokenizer::CharTokenizer;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;
use smallmind_train::data::{BatchSampler, DEFAULT_VAL_FRACTION};
use smallmind_train::{Batch, TextDataset, TrainError};

fn corpus(len: usize) -> String {
    let words = [
        "the ", "quick ", "brown ", "fox ", "jumps\n", "over ", "lazy ", "dogs. ",
    ];
    let mut text = String::new();
    let mut i = 0;
    while text.len() < len {
        text.push_str(words[(i * 7 + i / 3) % words.len()]);
        i += 1;
    }
    text.truncate(len);
    text
}

fn dataset(text: &str, val_fraction: f32) -> TextDataset {
    let tok = CharTokenizer::from_text(text).unwrap();
    TextDataset::from_text(text, Path::new("corpus.txt"), tok, val_fraction).unwrap()
}

#[test]
fn split_is_the_tail_of_the_stream() {
    let text = corpus(1000);
    let data = dataset(&text, DEFAULT_VAL_FRACTION);
    assert_eq!(data.train_tokens().len(), 900);
    assert_eq!(data.val_tokens().len(), 100);
    let tok = data.tokenizer();
    assert_eq!(tok.decode(data.train_tokens()).unwrap(), text[..900]);
    assert_eq!(tok.decode(data.val_tokens()).unwrap(), text[900..]);
}

#[test]
fn batches_are_windows_of_the_training_split() {
    let data = dataset(&corpus(5000), 0.1);
    let (b, t) = (4, 16);
    let mut sampler = BatchSampler::new(7);
    let mut batch = Batch::new(b, t);
    let train = data.train_tokens();
    for _ in 0..20 {
        data.next_train_batch(&mut sampler, &mut batch).unwrap();
        for row in 0..b {
            let input = &batch.inputs[row * t..(row + 1) * t];
            let target = &batch.targets[row * t..(row + 1) * t];
            assert_eq!(&input[1..], &target[..t - 1]);
            let found = train
                .windows(t + 1)
                .any(|w| &w[..t] == input && &w[1..] == target);
            assert!(found, "row {row} is not a window of the training split");
        }
    }
}

#[test]
fn same_seed_same_batches_and_resume_is_exact() {
    let data = dataset(&corpus(5000), 0.1);
    let draw = |sampler: &mut BatchSampler| {
        let mut batch = Batch::new(3, 8);
        data.next_train_batch(sampler, &mut batch).unwrap();
        batch
    };
    let mut a = BatchSampler::new(42);
    let mut b = BatchSampler::new(42);
    let mut c = BatchSampler::new(43);
    let first = draw(&mut a);
    assert_eq!(first, draw(&mut b));
    assert_ne!(first, draw(&mut c));
    // Save the position mid-stream; the restored sampler continues exactly.
    let state = a.state();
    let json = serde_json::to_string(&state).unwrap();
    let mut resumed = BatchSampler::from_state(&serde_json::from_str(&json).unwrap()).unwrap();
    for _ in 0..5 {
        assert_eq!(draw(&mut a), draw(&mut resumed));
    }
}

#[test]
fn validation_batches_are_fixed_and_cover_the_split() {
    let data = dataset(&corpus(2000), 0.25);
    let (b, t) = (3, 10);
    let batches = data.val_batches(b, t, usize::MAX).unwrap();
    assert_eq!(batches, data.val_batches(b, t, usize::MAX).unwrap());
    let val = data.val_tokens();
    let windows = (val.len() - 1) / t;
    assert_eq!(batches.len(), windows.div_ceil(b));
    // Every window's targets appear, in order, as the consecutive rows.
    let targets: Vec<u32> = batches.iter().flat_map(|x| x.targets.clone()).collect();
    assert_eq!(&targets[..windows * t], &val[1..=windows * t]);
    assert_eq!(data.val_batches(b, t, 2).unwrap().len(), 2);
    assert!(
        dataset(&corpus(100), 0.0)
            .val_batches(b, t, 5)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn buffers_of_the_wrong_size_are_errors() {
    let data = dataset(&corpus(500), 0.1);
    let mut sampler = BatchSampler::new(1);
    let (mut inputs, mut targets) = (vec![0u32; 10], vec![0u32; 12]);
    let err = sampler
        .fill(data.train_tokens(), 2, 6, &mut inputs, &mut targets)
        .unwrap_err();
    assert!(matches!(err, TrainError::ShapeMismatch { .. }), "{err}");
    let err = sampler
        .fill(data.train_tokens(), 0, 6, &mut [], &mut [])
        .unwrap_err();
    assert!(matches!(err, TrainError::InvalidSetting { .. }), "{err}");
}

#[test]
fn loads_a_file_and_a_sorted_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("b.txt"), "world").unwrap();
    std::fs::write(dir.path().join("a.txt"), "hello ").unwrap();
    std::fs::write(dir.path().join("skip.md"), "ignored").unwrap();
    std::fs::create_dir(dir.path().join("sub.txt")).unwrap();
    let data = TextDataset::load(dir.path(), 0.0).unwrap();
    let tok = data.tokenizer();
    assert_eq!(tok.decode(data.train_tokens()).unwrap(), "hello world");
    let single = TextDataset::load(dir.path().join("a.txt"), 0.0).unwrap();
    assert_eq!(single.train_tokens().len(), 6);
}

#[test]
fn bad_inputs_name_the_file_and_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let err = TextDataset::load(&empty, 0.1).unwrap_err();
    assert!(err.to_string().contains("empty.txt") && err.to_string().contains("empty"));

    let no_txt = dir.path().join("no_txt");
    std::fs::create_dir(&no_txt).unwrap();
    let err = TextDataset::load(&no_txt, 0.1).unwrap_err();
    assert!(err.to_string().contains("no .txt files"), "{err}");

    let missing = TextDataset::load(dir.path().join("missing.txt"), 0.1).unwrap_err();
    assert!(matches!(missing, TrainError::Io { .. }), "{missing}");

    let binary = dir.path().join("binary.txt");
    std::fs::write(&binary, [b'a', 0xff, b'b']).unwrap();
    let err = TextDataset::load(&binary, 0.1).unwrap_err();
    assert!(err.to_string().contains("UTF-8"), "{err}");

    let short = dir.path().join("short.txt");
    std::fs::write(&short, corpus(100)).unwrap();
    let data = TextDataset::load(&short, 0.1).unwrap();
    let err = data.check_context(64).unwrap_err().to_string();
    assert!(
        err.contains("short.txt") && err.contains("validation split has 10 tokens"),
        "{err}"
    );
    let err = data.check_context(95).unwrap_err().to_string();
    assert!(err.contains("training split has 90 tokens"), "{err}");
    data.check_context(9).unwrap();

    assert!(TextDataset::load(&short, 1.0).is_err());
    assert!(TextDataset::load(&short, -0.1).is_err());
}

#[test]
fn resuming_with_a_vocabulary_that_lacks_a_char_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.txt");
    std::fs::write(&path, "abcz").unwrap();
    let tok = CharTokenizer::from_text("abc").unwrap();
    let err = TextDataset::load_with_tokenizer(&path, tok, 0.0).unwrap_err();
    assert!(err.to_string().contains("'z'"), "{err}");
}

#[test]
fn drawing_a_batch_allocates_nothing() {
    let data = dataset(&corpus(5000), 0.1);
    let mut sampler = BatchSampler::new(3);
    let mut batch = Batch::new(8, 32);
    data.next_train_batch(&mut sampler, &mut batch).unwrap();
    // The counter must see a known allocation, or a zero below proves nothing.
    let before = AllocCounts::this_thread();
    drop(std::hint::black_box(Vec::<u8>::with_capacity(8)));
    assert!(
        AllocCounts::this_thread().since(before).count >= 1,
        "the counter sees nothing"
    );
    let before = AllocCounts::this_thread();
    for _ in 0..10 {
        data.next_train_batch(&mut sampler, &mut batch).unwrap();
    }
    assert!(smallmind_telemetry::alloc::is_installed());
    assert_eq!(AllocCounts::this_thread().since(before).count, 0);
}
