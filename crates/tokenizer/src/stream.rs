//! Streaming decode: one token id in, the text completed so far out.
//!
//! Byte-level BPE tokens are byte strings, so one character (an emoji, a CJK ideograph) may be
//! split across tokens. [`StreamDecoder`] keeps the bytes of an unfinished UTF-8 sequence until
//! the tokens that complete it arrive; bytes that can never become valid UTF-8 are emitted as
//! U+FFFD at once. [`StreamDecoder::finish`] flushes what is left.

use crate::error::Result;
use crate::tokenizer::Tokenizer;

/// Incremental decoder over one [`Tokenizer`]; reuses its buffers, so pushing a token does
/// not allocate once they have grown.
#[derive(Debug)]
pub struct StreamDecoder<'t> {
    tokenizer: &'t Tokenizer,
    pending: Vec<u8>,
    text: String,
    skip_special: bool,
}

impl<'t> StreamDecoder<'t> {
    /// A decoder that writes special tokens as their text.
    pub fn new(tokenizer: &'t Tokenizer) -> Self {
        Self {
            tokenizer,
            pending: Vec::with_capacity(16),
            text: String::with_capacity(64),
            skip_special: false,
        }
    }

    /// Leaves control and unknown tokens out of the text if `skip`.
    pub fn skip_special(mut self, skip: bool) -> Self {
        self.skip_special = skip;
        self
    }

    /// Adds token `id`; returns the text that became complete (possibly empty).
    ///
    /// Errors on an id outside the vocabulary; the decoder state is then unchanged.
    pub fn push(&mut self, id: u32) -> Result<&str> {
        let bytes = self.tokenizer.token_bytes(id)?;
        self.text.clear();
        if !(self.skip_special && self.tokenizer.is_control(id)) {
            self.pending.extend_from_slice(bytes);
        }
        self.drain_complete();
        Ok(&self.text)
    }

    /// Flushes the held bytes of an unfinished character (as U+FFFD) and resets the decoder.
    pub fn finish(&mut self) -> &str {
        self.text.clear();
        self.text.push_str(&String::from_utf8_lossy(&self.pending));
        self.pending.clear();
        &self.text
    }

    /// Bytes held back because they may start a character that is not complete yet.
    pub fn pending_bytes(&self) -> &[u8] {
        &self.pending
    }

    /// Moves every complete character from `pending` to `text`.
    fn drain_complete(&mut self) {
        let mut start = 0;
        while start < self.pending.len() {
            match std::str::from_utf8(&self.pending[start..]) {
                Ok(valid) => {
                    self.text.push_str(valid);
                    start = self.pending.len();
                }
                Err(e) => {
                    let valid_end = start + e.valid_up_to();
                    // The prefix was just validated, so this borrows and replaces nothing.
                    self.text
                        .push_str(&String::from_utf8_lossy(&self.pending[start..valid_end]));
                    match e.error_len() {
                        Some(bad) => {
                            self.text.push(char::REPLACEMENT_CHARACTER);
                            start = valid_end + bad;
                        }
                        None => {
                            start = valid_end;
                            break;
                        }
                    }
                }
            }
        }
        self.pending.drain(..start);
    }
}
