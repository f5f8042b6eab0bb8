//! Finding special tokens in text, longest match first at the leftmost position (as HF's
//! added-vocabulary matcher does).
//!
//! Control and unknown tokens are matched only when the caller asks to parse specials;
//! user-defined tokens (HF added tokens with `special: false`) are always matched, as in
//! llama.cpp's `tokenizer_st_partition`.

/// A stretch of input: plain text for BPE, or a special token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Segment<'t> {
    /// Text to pre-tokenize and merge.
    Text(&'t str),
    /// A special token's id.
    Special(u32),
}

#[derive(Clone, Debug)]
struct Entry {
    text: String,
    id: u32,
    /// Matched even when specials are not parsed (user-defined tokens).
    always: bool,
    /// ASCII whitespace after it is dropped (llama.cpp's `LLAMA_TOKEN_ATTR_RSTRIP`).
    rstrip: bool,
}

/// Special tokens indexed by their first byte, longest first within each byte.
#[derive(Clone, Debug, Default)]
pub(crate) struct SpecialMatcher {
    entries: Vec<Entry>,
    /// `by_first_byte[b]`: indices into `entries` of tokens starting with byte `b`.
    by_first_byte: Vec<Vec<u32>>,
}

impl SpecialMatcher {
    /// Builds the matcher from `(text, id, always)`; empty texts are ignored.
    pub(crate) fn new(specials: impl Iterator<Item = (String, u32, bool)>) -> Self {
        let mut entries: Vec<Entry> = specials
            .filter(|(text, _, _)| !text.is_empty())
            .map(|(text, id, always)| Entry {
                text,
                id,
                always,
                rstrip: false,
            })
            .collect();
        entries.sort_by(|a, b| b.text.len().cmp(&a.text.len()).then(a.id.cmp(&b.id)));
        let mut by_first_byte = vec![Vec::new(); 256];
        for (index, entry) in entries.iter().enumerate() {
            let first = usize::from(entry.text.as_bytes()[0]);
            by_first_byte[first].push(index as u32);
        }
        Self {
            entries,
            by_first_byte,
        }
    }

    /// Makes the tokens `rstrip` says drop the ASCII whitespace that follows them.
    pub(crate) fn set_rstrip(&mut self, rstrip: impl Fn(u32, &str) -> bool) {
        for entry in &mut self.entries {
            entry.rstrip = rstrip(entry.id, &entry.text);
        }
    }

    /// Calls `f` with each segment of `text` in order.
    pub(crate) fn for_each_segment<'t, E>(
        &self,
        text: &'t str,
        parse_control: bool,
        mut f: impl FnMut(Segment<'t>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut text_start = 0;
        let mut at = 0;
        let bytes = text.as_bytes();
        while at < bytes.len() {
            match self.match_at(text, at, parse_control) {
                Some(entry) => {
                    if text_start < at {
                        f(Segment::Text(&text[text_start..at]))?;
                    }
                    f(Segment::Special(entry.id))?;
                    at += entry.text.len();
                    if entry.rstrip {
                        at += bytes[at..]
                            .iter()
                            .take_while(|b| b.is_ascii_whitespace() || **b == 0x0B)
                            .count();
                    }
                    text_start = at;
                }
                None => at += 1,
            }
        }
        if text_start < bytes.len() {
            f(Segment::Text(&text[text_start..]))?;
        }
        Ok(())
    }

    /// The longest enabled special token starting at byte `at`. A match can only start at a
    /// byte that begins a token's UTF-8, so it always lies on character boundaries.
    fn match_at(&self, text: &str, at: usize, parse_control: bool) -> Option<&Entry> {
        let rest = &text.as_bytes()[at..];
        let candidates = self.by_first_byte.get(usize::from(*rest.first()?))?;
        candidates
            .iter()
            .map(|&i| &self.entries[i as usize])
            .find(|e| (parse_control || e.always) && rest.starts_with(e.text.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_match_wins_and_control_needs_parsing() {
        let m = SpecialMatcher::new(
            [
                ("<a>".to_owned(), 1, false),
                ("<a>b".to_owned(), 2, false),
                ("@".to_owned(), 3, true),
            ]
            .into_iter(),
        );
        let mut got = Vec::new();
        m.for_each_segment::<()>("x<a>b<a>@é", true, |s| {
            got.push(s);
            Ok(())
        })
        .unwrap();
        use Segment::*;
        assert_eq!(
            got,
            [Text("x"), Special(2), Special(1), Special(3), Text("é")]
        );
        got.clear();
        m.for_each_segment::<()>("x<a>@", false, |s| {
            got.push(s);
            Ok(())
        })
        .unwrap();
        assert_eq!(got, [Text("x<a>"), Special(3)]);
    }
}
