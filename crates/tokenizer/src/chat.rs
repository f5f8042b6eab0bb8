//! Chat templates: the model's own Jinja template, rendered with `minijinja`, or a built-in
//! format for files without one.
//!
//! [`ChatTemplate::jinja`] compiles a model's template (GGUF `tokenizer.chat_template`, HF
//! `chat_template`) in an environment set up as transformers' `apply_chat_template` sets up
//! Jinja2: `trim_blocks` and `lstrip_blocks`, loop controls (`break`, `continue`), the globals
//! `raise_exception` and `strftime_now`, a `tojson` filter that writes JSON as Python's
//! `json.dumps` does (`", "` and `": "` separators, no HTML escaping, optional `indent`), and
//! Python's string and dict methods (`.strip()`, `.startswith()`, `.items()`, ... from
//! minijinja-contrib's pycompat). The template sees `messages` (maps with `role` and
//! `content`), `add_generation_prompt`, `bos_token` and `eos_token`. A template that raises,
//! or uses a Jinja feature minijinja lacks, gives [`TokenizerError::ChatTemplate`] naming it.
//!
//! The built-in formats are plain Rust, chosen by name ([`ChatTemplate::named`]) or, for a
//! vocabulary without a template, by its turn tokens ([`ChatTemplate::for_vocabulary`], as
//! llama.cpp picks a format). They do not write BOS: the tokenizer adds it.
//!
//! * `chatml` (Qwen, SmolLM2 as `smollm2` with its default system prompt):
//!   `<|im_start|>{role}\n{content}<|im_end|>\n` per message, then `<|im_start|>assistant\n`.
//! * `llama3`: `<|start_header_id|>{role}<|end_header_id|>\n\n{content, trimmed}<|eot_id|>` per
//!   message, then `<|start_header_id|>assistant<|end_header_id|>\n\n`. The "Cutting Knowledge
//!   Date" preamble and tool blocks of Llama-3.1+ templates are not reproduced.
//! * `mistral` (v1 instruct): `[INST] {user} [/INST]{assistant}</s>` per turn, a system message
//!   prefixed to the first user message with a blank line.
//! * `gemma`: `<start_of_turn>{user|model}\n{content, trimmed}<end_of_turn>\n` per turn, a
//!   system message prefixed to the first user turn with a blank line, then
//!   `<start_of_turn>model\n` (Gemma 3's published template, without its `{{ bos_token }}`).

use std::fmt;
use std::sync::Arc;

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, ErrorKind, Value};

use crate::error::{Result, TokenizerError};
use crate::tokenizer::Tokenizer;

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant` (ChatML and Llama-3 accept any role).
    pub role: String,
    /// The message text.
    pub content: String,
}

impl ChatMessage {
    /// A message with `role` and `content`.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// `("user", "Hello")` is a message: role, then content.
impl<R: Into<String>, C: Into<String>> From<(R, C)> for ChatMessage {
    fn from((role, content): (R, C)) -> Self {
        Self::new(role, content)
    }
}

/// A borrowed message, copied (so `&[ChatMessage]` and `&Vec<ChatMessage>` convert too).
impl From<&ChatMessage> for ChatMessage {
    fn from(message: &ChatMessage) -> Self {
        message.clone()
    }
}

/// A chat format: a model's Jinja template or a built-in one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatTemplate {
    /// A Jinja template from the model's files, compiled.
    Jinja(Arc<JinjaTemplate>),
    /// ChatML, with the system message the template adds when the conversation has none.
    ChatMl {
        /// Inserted as a system message before a first message that is not `system`.
        default_system: Option<String>,
    },
    /// Llama-3 instruct.
    Llama3,
    /// Mistral v1 instruct.
    Mistral,
    /// Gemma (2 and 3) instruct.
    Gemma,
}

/// The system prompt SmolLM2's template adds when the conversation has none.
pub const SMOLLM2_DEFAULT_SYSTEM: &str =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

/// The names [`ChatTemplate::named`] accepts.
pub const BUILTIN_NAMES: [&str; 5] = ["chatml", "smollm2", "llama3", "mistral", "gemma"];

const IM_START: &str = "<|im_start|>";
const IM_END: &str = "<|im_end|>";

impl ChatTemplate {
    /// A built-in format by name: `chatml`, `smollm2` (or `smollm`: ChatML with SmolLM2's
    /// default system prompt), `llama3` (or `llama-3`), `mistral`, `gemma` (or `gemma3`);
    /// anything else is [`TokenizerError::UnknownChatTemplate`].
    pub fn named(name: &str) -> Result<Self> {
        Ok(match name.trim().to_ascii_lowercase().as_str() {
            "chatml" => Self::ChatMl {
                default_system: None,
            },
            "smollm" | "smollm2" => Self::ChatMl {
                default_system: Some(SMOLLM2_DEFAULT_SYSTEM.to_owned()),
            },
            "llama3" | "llama-3" => Self::Llama3,
            "mistral" => Self::Mistral,
            "gemma" | "gemma3" => Self::Gemma,
            _ => return Err(TokenizerError::UnknownChatTemplate(name.to_owned())),
        })
    }

    /// A built-in name, else a Jinja template source with no BOS/EOS text (see
    /// [`ChatTemplate::jinja`]).
    pub fn detect(template_or_name: &str) -> Result<Self> {
        Self::named(template_or_name).or_else(|_| Self::jinja(template_or_name, "", ""))
    }

    /// Compiles a Jinja chat template; `bos_token` and `eos_token` are the texts the template
    /// sees under those names.
    ///
    /// Errors: [`TokenizerError::ChatTemplate`] for a syntax error or an unknown statement.
    pub fn jinja(source: &str, bos_token: &str, eos_token: &str) -> Result<Self> {
        JinjaTemplate::new(source, bos_token, eos_token).map(|t| Self::Jinja(Arc::new(t)))
    }

    /// The model's own template, compiled with the tokenizer's BOS and EOS texts; `None` if the
    /// tokenizer has no template.
    pub fn of_tokenizer(tokenizer: &Tokenizer) -> Option<Result<Self>> {
        let text = |id: Option<u32>| id.and_then(|id| tokenizer.token_text(id)).unwrap_or("");
        let source = tokenizer.chat_template()?;
        Some(Self::jinja(
            source,
            text(tokenizer.bos()),
            text(tokenizer.eos()),
        ))
    }

    /// The built-in format whose turn tokens the vocabulary has (`<start_of_turn>`: Gemma,
    /// `<|im_start|>`: ChatML, `<|start_header_id|>`: Llama-3, `[INST]`: Mistral), for files
    /// without a template.
    pub fn for_vocabulary(tokenizer: &Tokenizer) -> Option<Self> {
        let has = |text: &str| tokenizer.token_id(text).is_some();
        if has("<start_of_turn>") {
            Some(Self::Gemma)
        } else if has(IM_START) {
            Some(Self::ChatMl {
                default_system: None,
            })
        } else if has("<|start_header_id|>") {
            Some(Self::Llama3)
        } else if has("[INST]") {
            Some(Self::Mistral)
        } else {
            None
        }
    }

    /// A short name: `jinja` for a model's template, else the built-in's name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Jinja(_) => "jinja",
            Self::ChatMl { .. } => "chatml",
            Self::Llama3 => "llama3",
            Self::Mistral => "mistral",
            Self::Gemma => "gemma",
        }
    }

    /// Renders `messages`, followed by the assistant's opening if `add_generation_prompt`.
    ///
    /// Errors: [`TokenizerError::ChatTemplate`] when a Jinja template raises or fails;
    /// [`TokenizerError::InvalidConversation`] when Mistral's or Gemma's format gets roles that
    /// do not alternate.
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        if let Self::Jinja(template) = self {
            return template.render(messages, add_generation_prompt);
        }
        let capacity = messages.iter().map(|m| m.content.len() + 32).sum::<usize>() + 128;
        let mut out = String::with_capacity(capacity);
        match self {
            Self::Jinja(_) => {}
            Self::ChatMl { default_system } => render_chatml(
                default_system.as_deref(),
                messages,
                add_generation_prompt,
                &mut out,
            ),
            Self::Llama3 => render_llama3(messages, add_generation_prompt, &mut out),
            Self::Mistral => render_mistral(messages, &mut out)?,
            Self::Gemma => render_gemma(messages, add_generation_prompt, &mut out)?,
        }
        Ok(out)
    }
}

/// A compiled Jinja chat template (see the module docs).
pub struct JinjaTemplate {
    source: String,
    bos_token: String,
    eos_token: String,
    env: Environment<'static>,
}

/// The name the template is compiled under; errors cite it with a line number.
const TEMPLATE_NAME: &str = "chat_template";

impl JinjaTemplate {
    fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_filter("tojson", tojson);
        env.add_template_owned(TEMPLATE_NAME, source.to_owned())
            .map_err(template_error)?;
        Ok(Self {
            source: source.to_owned(),
            bos_token: bos_token.to_owned(),
            eos_token: eos_token.to_owned(),
            env,
        })
    }

    /// The template source.
    pub fn source(&self) -> &str {
        &self.source
    }

    fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| {
                Value::from_iter([
                    ("role", Value::from(m.role.as_str())),
                    ("content", Value::from(m.content.as_str())),
                ])
            })
            .collect();
        let context = minijinja::context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos_token.as_str(),
            eos_token => self.eos_token.as_str(),
        };
        self.env
            .get_template(TEMPLATE_NAME)
            .and_then(|t| t.render(context))
            .map_err(template_error)
    }
}

impl PartialEq for JinjaTemplate {
    fn eq(&self, other: &Self) -> bool {
        (&self.source, &self.bos_token, &self.eos_token)
            == (&other.source, &other.bos_token, &other.eos_token)
    }
}

impl Eq for JinjaTemplate {}

impl fmt::Debug for JinjaTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JinjaTemplate")
            .field("source_len", &self.source.len())
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish()
    }
}

/// A minijinja error as ours: its kind, detail and line (e.g. `unknown filter: filter
/// groupby is unknown (in chat_template:3)`).
fn template_error(err: minijinja::Error) -> TokenizerError {
    TokenizerError::ChatTemplate(err.to_string())
}

/// `raise_exception(message)`: the template refuses the conversation.
fn raise_exception(message: String) -> std::result::Result<Value, minijinja::Error> {
    Err(minijinja::Error::new(
        ErrorKind::InvalidOperation,
        format!("the template raised an exception: {message}"),
    ))
}

/// `strftime_now(format)`: the current UTC time in `format` (`%Y %m %d %H %M %S %y %b %B %a
/// %A %j %%`; other directives are left as written).
fn strftime_now(format: String) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_utc(secs, &format)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// `secs` since the Unix epoch formatted as C's `strftime` (the directives of
/// [`strftime_now`]).
fn format_utc(secs: u64, format: &str) -> String {
    let days = secs / 86_400;
    let (year, month, day) = civil_from_days(days as i64);
    let day_of_year = days as i64 - days_from_civil(year, 1, 1) + 1;
    let weekday = ((days + 3) % 7) as usize; // 1970-01-01 was a Thursday (index 3)
    let (hour, minute, second) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let mut out = String::with_capacity(format.len() + 16);
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let month_name = MONTHS[(month - 1) as usize];
        match chars.next() {
            Some('Y') => out.push_str(&year.to_string()),
            Some('y') => out.push_str(&format!("{:02}", year.rem_euclid(100))),
            Some('m') => out.push_str(&format!("{month:02}")),
            Some('d') => out.push_str(&format!("{day:02}")),
            Some('H') => out.push_str(&format!("{hour:02}")),
            Some('M') => out.push_str(&format!("{minute:02}")),
            Some('S') => out.push_str(&format!("{second:02}")),
            Some('j') => out.push_str(&format!("{day_of_year:03}")),
            Some('B') => out.push_str(month_name),
            Some('b') => out.push_str(&month_name[..3]),
            Some('A') => out.push_str(WEEKDAYS[weekday]),
            Some('a') => out.push_str(&WEEKDAYS[weekday][..3]),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// (year, month 1..=12, day 1..=31) of `days` since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a date (the inverse of [`civil_from_days`]).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `value | tojson(indent=None)`: JSON as Python's `json.dumps(value, ensure_ascii=False)`
/// writes it (transformers' filter), not HTML-escaped.
fn tojson(value: Value, kwargs: Kwargs) -> std::result::Result<Value, minijinja::Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    for ignored in ["ensure_ascii", "sort_keys", "separators"] {
        let _: Option<Value> = kwargs.get(ignored)?;
    }
    kwargs.assert_all_used()?;
    let mut out = String::new();
    write_json(&value, indent, 0, &mut out)?;
    Ok(Value::from_safe_string(out))
}

fn write_json(
    value: &Value,
    indent: Option<usize>,
    depth: usize,
    out: &mut String,
) -> std::result::Result<(), minijinja::Error> {
    let newline = |out: &mut String, depth: usize| {
        if let Some(width) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(width * depth));
        }
    };
    let item_separator = if indent.is_some() { "," } else { ", " };
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => match value.as_i64() {
            Some(int) if !value.to_string().contains(['.', 'e', 'E']) => {
                out.push_str(&int.to_string());
            }
            _ => {
                let float = f64::try_from(value.clone()).unwrap_or(f64::NAN);
                out.push_str(&python_float(float));
            }
        },
        ValueKind::String => {
            let text = value.as_str().unwrap_or_default();
            out.push_str(&serde_json::to_string(text).unwrap_or_default());
        }
        ValueKind::Map => {
            let keys: Vec<Value> = value.try_iter()?.collect();
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_separator);
                }
                newline(out, depth + 1);
                let key_text = key.as_str().map_or_else(|| key.to_string(), str::to_owned);
                out.push_str(&serde_json::to_string(&key_text).unwrap_or_default());
                out.push_str(": ");
                write_json(&value.get_item(key)?, indent, depth + 1, out)?;
            }
            newline(out, depth);
            out.push('}');
        }
        _ => {
            let items: Vec<Value> = value.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_separator);
                }
                newline(out, depth + 1);
                write_json(item, indent, depth + 1, out)?;
            }
            newline(out, depth);
            out.push(']');
        }
    }
    Ok(())
}

/// A float as Python's `repr` writes it in JSON: `1.0`, `2.5`, `NaN`, `Infinity`.
fn python_float(x: f64) -> String {
    if x.is_nan() {
        "NaN".to_owned()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else if x == x.trunc() && x.abs() < 1e16 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

fn render_chatml(
    default_system: Option<&str>,
    messages: &[ChatMessage],
    add_generation_prompt: bool,
    out: &mut String,
) {
    let push = |out: &mut String, role: &str, content: &str| {
        for part in [IM_START, role, "\n", content, IM_END, "\n"] {
            out.push_str(part);
        }
    };
    if let (Some(system), Some(first)) = (default_system, messages.first())
        && first.role != "system"
    {
        push(out, "system", system);
    }
    for m in messages {
        push(out, &m.role, &m.content);
    }
    if add_generation_prompt {
        out.push_str(IM_START);
        out.push_str("assistant\n");
    }
}

fn render_llama3(messages: &[ChatMessage], add_generation_prompt: bool, out: &mut String) {
    let header = |out: &mut String, role: &str| {
        for part in ["<|start_header_id|>", role, "<|end_header_id|>\n\n"] {
            out.push_str(part);
        }
    };
    for m in messages {
        header(out, &m.role);
        out.push_str(m.content.trim());
        out.push_str("<|eot_id|>");
    }
    if add_generation_prompt {
        header(out, "assistant");
    }
}

/// The optional leading system message and the turns after it, which must alternate user,
/// assistant, user, ... (`template` names the format in the error).
fn alternating_turns<'m>(
    messages: &'m [ChatMessage],
    template: &'static str,
) -> Result<(Option<&'m str>, &'m [ChatMessage])> {
    let (system, turns) = match messages.split_first() {
        Some((first, rest)) if first.role == "system" => (Some(first.content.as_str()), rest),
        _ => (None, messages),
    };
    for (i, m) in turns.iter().enumerate() {
        let expected = if i % 2 == 0 { "user" } else { "assistant" };
        if m.role != expected {
            return Err(TokenizerError::InvalidConversation {
                template,
                reason: format!(
                    "message {i} after the system prompt is {:?}, expected {expected:?}",
                    m.role
                ),
            });
        }
    }
    Ok((system, turns))
}

fn render_mistral(messages: &[ChatMessage], out: &mut String) -> Result<()> {
    let (system, turns) = alternating_turns(messages, "mistral")?;
    for (i, m) in turns.iter().enumerate() {
        if m.role == "user" {
            out.push_str("[INST] ");
            if let Some(system) = system.filter(|_| i == 0) {
                out.push_str(system);
                out.push_str("\n\n");
            }
            out.push_str(&m.content);
            out.push_str(" [/INST]");
        } else {
            out.push_str(&m.content);
            out.push_str("</s>");
        }
    }
    Ok(())
}

fn render_gemma(
    messages: &[ChatMessage],
    add_generation_prompt: bool,
    out: &mut String,
) -> Result<()> {
    let (system, turns) = alternating_turns(messages, "gemma")?;
    for (i, m) in turns.iter().enumerate() {
        let role = if m.role == "assistant" {
            "model"
        } else {
            "user"
        };
        out.push_str("<start_of_turn>");
        out.push_str(role);
        out.push('\n');
        if let Some(system) = system.filter(|_| i == 0) {
            out.push_str(system);
            out.push_str("\n\n");
        }
        out.push_str(m.content.trim());
        out.push_str("<end_of_turn>\n");
    }
    if add_generation_prompt {
        out.push_str("<start_of_turn>model\n");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat() -> Vec<ChatMessage> {
        vec![
            ChatMessage::new("system", "S"),
            ChatMessage::new("user", "hi"),
            ChatMessage::new("assistant", "yo"),
            ChatMessage::new("user", "q"),
        ]
    }

    #[test]
    fn mistral_alternation() {
        let t = ChatTemplate::Mistral;
        assert_eq!(
            t.render(&chat(), true).unwrap(),
            "[INST] S\n\nhi [/INST]yo</s>[INST] q [/INST]"
        );
        assert!(
            t.render(&[ChatMessage::new("assistant", "x")], true)
                .is_err()
        );
    }

    #[test]
    fn gemma_format() {
        assert_eq!(
            ChatTemplate::Gemma.render(&chat(), true).unwrap(),
            "<start_of_turn>user\nS\n\nhi<end_of_turn>\n<start_of_turn>model\nyo<end_of_turn>\n\
             <start_of_turn>user\nq<end_of_turn>\n<start_of_turn>model\n"
        );
    }

    #[test]
    fn llama3_format() {
        let msgs = [ChatMessage::new("user", " hi ")];
        assert_eq!(
            ChatTemplate::Llama3.render(&msgs, true).unwrap(),
            "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>\
             <|start_header_id|>assistant<|end_header_id|>\n\n"
        );
    }

    #[test]
    fn jinja_renders_with_hf_settings() {
        let source = "{{ bos_token }}{% for m in messages %}\n  {% if loop.index0 == 3 %}{% break %}{% endif %}\n  [{{ m.role | upper }}:{{ m['content'].strip() }}]\n{% endfor %}\n{{ messages[0] | tojson }}{% if add_generation_prompt %}>{% endif %}";
        let t = ChatTemplate::jinja(source, "<s>", "</s>").unwrap();
        let got = t.render(&chat(), true).unwrap();
        assert_eq!(
            got,
            "<s>  [SYSTEM:S]\n  [USER:hi]\n  [ASSISTANT:yo]\n{\"role\": \"system\", \"content\": \"S\"}>"
        );
    }

    #[test]
    fn tojson_indents_like_python() {
        let t = ChatTemplate::jinja(
            "{{ {'a': [1, 2.0, 'x<y'], 'b': {}} | tojson(indent=2) }}",
            "",
            "",
        )
        .unwrap();
        assert_eq!(
            t.render(&[], false).unwrap(),
            "{\n  \"a\": [\n    1,\n    2.0,\n    \"x<y\"\n  ],\n  \"b\": {}\n}"
        );
    }

    #[test]
    fn strftime_formats_utc_dates() {
        // 2024-07-26 13:05:09 UTC, a Friday, day 208.
        let secs = 1_722_000_309;
        assert_eq!(
            format_utc(secs, "%d %b %Y %H:%M:%S %A %j %% %q"),
            "26 Jul 2024 13:25:09 Friday 208 % %q"
        );
    }

    #[test]
    fn template_errors_name_the_problem() {
        let raises =
            ChatTemplate::jinja("{{ raise_exception('roles must alternate') }}", "", "").unwrap();
        let err = raises.render(&chat(), true).unwrap_err().to_string();
        assert!(err.contains("roles must alternate"), "{err}");
        let err = ChatTemplate::jinja("{% generation %}x{% endgeneration %}", "", "")
            .unwrap_err()
            .to_string();
        assert!(err.contains("generation"), "{err}");
        let unknown_filter = ChatTemplate::jinja("{{ messages | frobnicate }}", "", "");
        let err = match unknown_filter {
            Ok(t) => t.render(&chat(), true).unwrap_err(),
            Err(e) => e,
        };
        assert!(err.to_string().contains("frobnicate"), "{err}");
    }
}
