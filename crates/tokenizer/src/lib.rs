//! Tokenization for smallmind: byte-level BPE (GPT-2, SmolLM2, Llama 3, Qwen2, Phi-4) and
//! SentencePiece (Llama 2, Mistral, TinyLlama, Phi-3, Gemma) vocabularies read from GGUF
//! metadata (through [`Vocab`]) or HF `tokenizer.json`, lossless streaming decode, and chat
//! templates.
//!
//! ```no_run
//! use smallmind_tokenizer::{EncodeOptions, StreamDecoder, Tokenizer};
//! # fn main() -> Result<(), smallmind_tokenizer::TokenizerError> {
//! let tok = Tokenizer::from_tokenizer_json_file("tokenizer.json")?;
//! let ids = tok.encode("Hello, world!", EncodeOptions::PROMPT)?;
//! let mut stream = StreamDecoder::new(&tok);
//! for &id in &ids {
//!     print!("{}", stream.push(id)?);
//! }
//! print!("{}", stream.finish());
//! # Ok(())
//! # }
//! ```
//!
//! Modules: `bytes` (GPT-2 byte alphabet), [`pretok`] (the GPT-2, SmolLM, Llama 3, Qwen2 and
//! GPT-4o regexes, hand-written), `bpe` (rank-ordered merging), `spm` (SentencePiece: `▁`,
//! merging by score, byte fallback), `special` (special tokens in text), [`vocab`]
//! (GGUF-shaped inputs), [`hf`] (`tokenizer.json`), [`stream`] (incremental decode), [`chat`]
//! (chat templates), [`char_level`] (the char-level tokenizer of trained tiny models).

mod bpe;
mod bytes;
pub mod char_level;
pub mod chat;
pub mod error;
pub mod hf;
pub mod pretok;
mod special;
mod spm;
pub mod stream;
mod tokenizer;
pub mod vocab;

pub use char_level::{CHAR_TOKENIZER_FILE, CharTokenizer, CharTokenizerError};
pub use chat::{ChatMessage, ChatTemplate, JinjaTemplate};
pub use error::{Result, TokenizerError};
pub use pretok::PreTokenizer;
pub use stream::StreamDecoder;
pub use tokenizer::{AddPolicy, EncodeOptions, SpacePrefix, Tokenizer};
pub use vocab::{TokenKind, Vocab, VocabModel};

#[cfg(test)]
mod tests {
    /// A tokenizer is shared across threads (e.g. a server's sessions).
    #[test]
    fn tokenizer_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<crate::Tokenizer>();
        assert_send_sync::<crate::ChatTemplate>();
    }
}
