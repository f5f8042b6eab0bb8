//! Stop strings over streamed text: where one first occurs, and how much of the text's end must
//! be held back because it could still grow into one.
//!
//! The text layer keeps the undecided text in one buffer. After each token it asks
//! [`StopStrings::find`] for the earliest occurrence of any stop string in that buffer (the cut
//! point), else [`StopStrings::undecided_suffix`] for the longest end of the buffer that is a
//! proper prefix of some stop string; everything before that suffix is final and can be
//! emitted. Since whatever could start a stop string is held, every occurrence starts inside
//! the buffer, however many tokens it spans. Neither call allocates.

use crate::error::{Error, Result};

/// A request's stop strings, checked non-empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct StopStrings {
    strings: Vec<String>,
}

impl StopStrings {
    /// Checks `strings`.
    ///
    /// # Errors
    /// [`Error::EmptyStopString`] naming the first empty one.
    pub(crate) fn new(strings: &[String]) -> Result<StopStrings> {
        if let Some(index) = strings.iter().position(String::is_empty) {
            return Err(Error::EmptyStopString { index });
        }
        Ok(StopStrings {
            strings: strings.to_vec(),
        })
    }

    /// The earliest occurrence in `text`: `(index of the stop string, byte offset)`; at equal
    /// offsets the first listed wins.
    pub(crate) fn find(&self, text: &str) -> Option<(usize, usize)> {
        self.strings
            .iter()
            .enumerate()
            .filter_map(|(index, stop)| text.find(stop.as_str()).map(|at| (index, at)))
            .min_by_key(|&(index, at)| (at, index))
    }

    /// Moves the decided text from `undecided` to the end of `piece`: up to the earliest stop
    /// string (returning its index: the stream ends there, and `undecided` is emptied), else all
    /// but the end that could still start one (all of it `at_end`).
    pub(crate) fn release(
        &self,
        undecided: &mut String,
        piece: &mut String,
        at_end: bool,
    ) -> Option<usize> {
        if let Some((index, at)) = self.find(undecided) {
            piece.push_str(&undecided[..at]);
            undecided.clear();
            return Some(index);
        }
        let held = if at_end {
            0
        } else {
            self.undecided_suffix(undecided)
        };
        let decided = undecided.len() - held;
        piece.push_str(&undecided[..decided]);
        undecided.replace_range(..decided, "");
        None
    }

    /// Bytes at the end of `text` that are a proper prefix of some stop string (0 if none).
    /// The suffix starts on a char boundary: it equals the start of a `str`.
    pub(crate) fn undecided_suffix(&self, text: &str) -> usize {
        self.strings
            .iter()
            .map(|stop| longest_prefix_at_end(stop, text))
            .max()
            .unwrap_or(0)
    }
}

/// The longest proper prefix of `stop` that `text` ends with, in bytes.
fn longest_prefix_at_end(stop: &str, text: &str) -> usize {
    let longest = (stop.len() - 1).min(text.len());
    (1..=longest)
        .rev()
        .find(|&n| stop.is_char_boundary(n) && text.ends_with(&stop[..n]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stops(list: &[&str]) -> StopStrings {
        StopStrings::new(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn finds_the_earliest_occurrence() {
        let s = stops(&["cd", "bc", "x"]);
        assert_eq!(s.find("abcde"), Some((1, 1)));
        assert_eq!(s.find("abd"), None);
        assert_eq!(stops(&["ab", "a"]).find("zab"), Some((0, 1)));
    }

    #[test]
    fn holds_what_could_become_a_stop_string() {
        let s = stops(&["\n\nUser:", "END"]);
        assert_eq!(s.undecided_suffix("hello\n"), 1);
        assert_eq!(s.undecided_suffix("hello\n\nUs"), 4);
        assert_eq!(s.undecided_suffix("hello EN"), 2);
        assert_eq!(s.undecided_suffix("hello"), 0);
        assert_eq!(s.undecided_suffix(""), 0);
        // A full occurrence is `find`'s business, not held.
        assert_eq!(stops(&["ab"]).undecided_suffix("ab"), 0);
    }

    #[test]
    fn prefixes_end_on_char_boundaries() {
        let s = stops(&["é!"]);
        assert_eq!(s.undecided_suffix("café"), 2);
        assert_eq!(s.undecided_suffix("cafe"), 0);
    }

    #[test]
    fn an_empty_stop_string_is_an_error() {
        let err = StopStrings::new(&["a".into(), String::new()]).unwrap_err();
        assert!(matches!(err, Error::EmptyStopString { index: 1 }), "{err}");
    }
}
