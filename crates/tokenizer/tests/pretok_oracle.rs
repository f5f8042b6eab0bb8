//! The hand-written pre-tokenizers against `fancy-regex` running the regexes themselves
//! (GPT-2's, SmolLM's `\p{N}` split followed by GPT-2's, Llama 3's, Qwen2's and GPT-4o's, the
//! last three with the contractions spelled `'[sS]|...` as llama.cpp adapts them; GPT-4o's
//! upper/lower classes are written out as in its `tokenizer.json`).

use fancy_regex::Regex;
use proptest::prelude::*;
use smallmind_tokenizer::PreTokenizer;

const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
const CONTRACTIONS: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
const LLAMA3_TAIL: &str =
    r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2_TAIL: &str =
    r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const O200K_UPPER: &str = r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]";
const O200K_LOWER: &str = r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]";

fn gpt4o_regex() -> String {
    let lead = r"[^\r\n\p{L}\p{N}]?";
    format!(
        "{lead}{O200K_UPPER}*{O200K_LOWER}+{CONTRACTIONS}?|{lead}{O200K_UPPER}+{O200K_LOWER}*{CONTRACTIONS}?\
         |\\p{{N}}{{1,3}}| ?[^\\s\\p{{L}}\\p{{N}}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
    )
}

const ALL: [PreTokenizer; 5] = [
    PreTokenizer::Gpt2,
    PreTokenizer::SmolLm,
    PreTokenizer::Llama3,
    PreTokenizer::Qwen2,
    PreTokenizer::Gpt4o,
];

fn regex_pieces(re: &Regex, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut last = 0;
    for m in re.find_iter(text) {
        let m = m.unwrap();
        assert_eq!(m.start(), last, "the GPT-2 regex covers every character");
        out.push(m.as_str().to_owned());
        last = m.end();
    }
    assert_eq!(last, text.len());
    out
}

fn oracle(pre: PreTokenizer, text: &str) -> Vec<String> {
    use std::sync::OnceLock;
    static RE: OnceLock<Regex> = OnceLock::new();
    static LLAMA3: OnceLock<Regex> = OnceLock::new();
    static QWEN2: OnceLock<Regex> = OnceLock::new();
    static GPT4O: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(GPT2).unwrap());
    match pre {
        PreTokenizer::Gpt2 => regex_pieces(re, text),
        PreTokenizer::Llama3 => regex_pieces(
            LLAMA3.get_or_init(|| Regex::new(&format!("{CONTRACTIONS}{LLAMA3_TAIL}")).unwrap()),
            text,
        ),
        PreTokenizer::Qwen2 => regex_pieces(
            QWEN2.get_or_init(|| Regex::new(&format!("{CONTRACTIONS}{QWEN2_TAIL}")).unwrap()),
            text,
        ),
        PreTokenizer::Gpt4o => regex_pieces(
            GPT4O.get_or_init(|| Regex::new(&gpt4o_regex()).unwrap()),
            text,
        ),
        PreTokenizer::SmolLm => {
            let mut out = Vec::new();
            let mut run = String::new();
            for c in text.chars() {
                if c.is_numeric() {
                    out.extend(regex_pieces(re, &run));
                    run.clear();
                    out.push(c.to_string());
                } else {
                    run.push(c);
                }
            }
            out.extend(regex_pieces(re, &run));
            out
        }
    }
}

fn ours(pre: PreTokenizer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    pre.split(text, |p| out.push(p.to_owned()));
    out
}

/// Whether the regex engine's Unicode tables assign `c`. Its tables and ours
/// (`unicode-general-category`) are different Unicode versions: a code point
/// that only the newer one assigns (U+11DE0, a letter in our tables) is a
/// letter to us and "other" to the regex. Both are right for their version;
/// the oracle only compares the splitting on characters both versions know.
fn assigned_in_regex_tables(c: char) -> bool {
    static ASSIGNED: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let re = ASSIGNED.get_or_init(|| Regex::new(r"^\P{Cn}$").unwrap());
    re.is_match(c.encode_utf8(&mut [0; 4])).unwrap()
}

/// Characters that exercise every class boundary: ASCII, Unicode spaces, letters of several
/// scripts, combining marks, numbers of several kinds, symbols, emoji.
fn tricky_char() -> impl Strategy<Value = char> {
    let pool: Vec<char> =
        " \t\n\r\x0b\x0c\u{85}\u{a0}\u{2009}\u{3000}\u{200b}\x1c\x1f\u{180e}\u{feff}\u{2028}'sStTrevmldRELVMD0123456789\
        aZéßΩжא你ǅʰ\u{301}\u{94d}٣²½Ⅻ.,!?-_$€+<>|/🦀👍🏽\u{200d}\u{fe0f}"
            .chars()
            .collect();
    let assigned = any::<char>().prop_filter("assigned in the regex's Unicode version", |&c| {
        assigned_in_regex_tables(c)
    });
    prop_oneof![4 => proptest::sample::select(pool), 1 => assigned]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn matches_fancy_regex(chars in proptest::collection::vec(tricky_char(), 0..40)) {
        let text: String = chars.into_iter().collect();
        for pre in ALL {
            prop_assert_eq!(ours(pre, &text), oracle(pre, &text), "{:?} on {:?}", pre, text);
        }
    }
}

/// The case proptest found: ZWSP then U+11DE0 (unassigned in the regex's tables).
#[test]
fn newer_unicode_letters_are_letters() {
    let text = "\u{200b}\u{11de0}";
    assert!(!assigned_in_regex_tables('\u{11de0}'));
    assert_eq!(ours(PreTokenizer::Gpt2, text), ["\u{200b}", "\u{11de0}"]);
}

#[test]
fn fixed_cases() {
    let cases = [
        "",
        " ",
        "  ",
        "a  b",
        "\t\ta",
        "it's 'S 're''ll",
        "x \u{a0}y",
        "  \n\n  end  ",
        "12 345 6.7",
        "é\u{301}e\u{301}",
        "HELLOworld helloWORLD I'M it'S ǅungla ʰa \u{301}a",
        "x\r\n\r\n  y \n\t z\n",
        "123456789 1,234.5",
        "a/b//\n// c",
    ];
    for text in cases {
        for pre in ALL {
            assert_eq!(ours(pre, text), oracle(pre, text), "{pre:?} on {text:?}");
        }
    }
}
