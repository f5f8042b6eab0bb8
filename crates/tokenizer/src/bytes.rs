//! GPT-2's byte-level alphabet: the bijection between the 256 byte values and 256 printable
//! Unicode characters (`bytes_to_unicode` in OpenAI's `encoder.py`).
//!
//! Bytes `!`..=`~`, `¡`..=`¬` and `®`..=`ÿ` map to the character with the same code point; the
//! other 68 bytes (controls, space, DEL, NBSP, soft hyphen, ...) map in increasing order to
//! U+0100, U+0101, ... So space (0x20) is `Ġ` (U+0120) and newline (0x0A) is `Ċ` (U+010A).
//! Vocabulary strings of byte-level BPE models are written in this alphabet.

/// Whether byte `b` maps to the character of the same code point.
fn is_printable(b: u8) -> bool {
    matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF)
}

/// The 256-entry table byte → character.
pub(crate) fn byte_to_char_table() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next_extra = 256u32;
    for b in 0..=255u8 {
        table[usize::from(b)] = if is_printable(b) {
            char::from(b)
        } else {
            let c = char::from_u32(next_extra).unwrap_or(char::REPLACEMENT_CHARACTER);
            next_extra += 1;
            c
        };
    }
    table
}

/// The byte a character of the alphabet stands for, or `None` if `c` is not in the alphabet.
pub(crate) fn char_to_byte(c: char) -> Option<u8> {
    let code = u32::from(c);
    if let Ok(b) = u8::try_from(code)
        && is_printable(b)
    {
        return Some(b);
    }
    // Code points 256..324 stand for the 68 non-printable bytes in increasing order:
    // 0x00..=0x20 (33 bytes), 0x7F..=0xA0 (34 bytes), then 0xAD.
    let extra = u8::try_from(code.checked_sub(256)?).ok()?;
    match extra {
        0..=32 => Some(extra),
        33..=66 => Some(0x7F + (extra - 33)),
        67 => Some(0xAD),
        _ => None,
    }
}

/// Appends the bytes a vocabulary string stands for to `out`: each character of the byte-level
/// alphabet gives its byte; any other character (only in malformed vocabularies) gives its own
/// UTF-8, so decoding never fails.
pub(crate) fn decode_token_text(text: &str, out: &mut Vec<u8>) {
    for c in text.chars() {
        match char_to_byte(c) {
            Some(b) => out.push(b),
            None => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_a_bijection_with_known_points() {
        let table = byte_to_char_table();
        assert_eq!(table[usize::from(b' ')], 'Ġ');
        assert_eq!(table[usize::from(b'\n')], 'Ċ');
        assert_eq!(table[usize::from(b'a')], 'a');
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(table[usize::from(b)]), Some(b));
        }
        assert_eq!(char_to_byte('€'), None);
    }
}
