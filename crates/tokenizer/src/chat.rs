//! Chat templates as plain Rust formatting; no Jinja engine is included.
//!
//! [`ChatTemplate::detect`] recognises a model's template (GGUF `tokenizer.chat_template`, HF
//! `chat_template`) or a name, and [`ChatTemplate::render`] produces the prompt text, which is
//! then encoded with special tokens parsed.
//!
//! * ChatML (SmolLM2, Qwen): `<|im_start|>{role}\n{content}<|im_end|>\n` per message, then
//!   `<|im_start|>assistant\n` as the generation prompt. A template that inserts a fixed system
//!   message when the first message is not a system one (SmolLM2's "You are a helpful AI
//!   assistant named SmolLM, trained by Hugging Face") has that text extracted and inserted the
//!   same way, so the output equals transformers' `apply_chat_template`.
//! * Llama-3: `<|start_header_id|>{role}<|end_header_id|>\n\n{content, trimmed}<|eot_id|>` per
//!   message, then `<|start_header_id|>assistant<|end_header_id|>\n\n`. Like llama.cpp's
//!   built-in template, `<|begin_of_text|>` is not written: the tokenizer adds BOS. The
//!   "Cutting Knowledge Date" system preamble and tool blocks of Llama-3.1+ templates are not
//!   reproduced.
//! * Mistral (v1 instruct): `[INST] {user} [/INST]{assistant}</s>` per turn, a system message
//!   prefixed to the first user message with a blank line; BOS again comes from the tokenizer.
//!
//! Only the fixed default system prompt is read out of a ChatML template; tool calls and other
//! template logic are not interpreted.

use crate::error::{Result, TokenizerError};

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

/// A supported chat format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatTemplate {
    /// ChatML, with the system message the template adds when the conversation has none.
    ChatMl {
        /// Inserted as a system message before a first message that is not `system`.
        default_system: Option<String>,
    },
    /// Llama-3 instruct.
    Llama3,
    /// Mistral v1 instruct.
    Mistral,
}

/// The system prompt SmolLM2's template adds when the conversation has none.
pub const SMOLLM2_DEFAULT_SYSTEM: &str =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

const IM_START: &str = "<|im_start|>";
const IM_END: &str = "<|im_end|>";

impl ChatTemplate {
    /// Recognises a Jinja template source or a name (`chatml`, `smollm`/`smollm2` (ChatML with
    /// SmolLM2's default system prompt), `llama3`/`llama-3`, `mistral`); anything else is
    /// [`TokenizerError::UnsupportedChatTemplate`].
    pub fn detect(template_or_name: &str) -> Result<Self> {
        if let Some(named) = Self::from_name(template_or_name) {
            return Ok(named);
        }
        let t = template_or_name;
        if t.contains(IM_START) {
            Ok(Self::ChatMl {
                default_system: default_chatml_system(t),
            })
        } else if t.contains("<|start_header_id|>") {
            Ok(Self::Llama3)
        } else if t.contains("[INST]") {
            Ok(Self::Mistral)
        } else {
            let head: String = t.chars().take(60).collect();
            Err(TokenizerError::UnsupportedChatTemplate(format!(
                "template starting {head:?}"
            )))
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "chatml" => Self::ChatMl {
                default_system: None,
            },
            "smollm" | "smollm2" => Self::ChatMl {
                default_system: Some(SMOLLM2_DEFAULT_SYSTEM.to_owned()),
            },
            "llama3" | "llama-3" => Self::Llama3,
            "mistral" => Self::Mistral,
            _ => return None,
        })
    }

    /// A short name: `chatml`, `llama3` or `mistral`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ChatMl { .. } => "chatml",
            Self::Llama3 => "llama3",
            Self::Mistral => "mistral",
        }
    }

    /// Renders `messages`, followed by the assistant's opening if `add_generation_prompt`.
    ///
    /// Errors only for Mistral, whose format needs user and assistant turns to alternate
    /// (after an optional leading system message).
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let capacity = messages.iter().map(|m| m.content.len() + 32).sum::<usize>() + 128;
        let mut out = String::with_capacity(capacity);
        match self {
            Self::ChatMl { default_system } => render_chatml(
                default_system.as_deref(),
                messages,
                add_generation_prompt,
                &mut out,
            ),
            Self::Llama3 => render_llama3(messages, add_generation_prompt, &mut out),
            Self::Mistral => render_mistral(messages, &mut out)?,
        }
        Ok(out)
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

fn render_mistral(messages: &[ChatMessage], out: &mut String) -> Result<()> {
    let (system, turns) = match messages.split_first() {
        Some((first, rest)) if first.role == "system" => (Some(first.content.as_str()), rest),
        _ => (None, messages),
    };
    for (i, m) in turns.iter().enumerate() {
        let expected = if i % 2 == 0 { "user" } else { "assistant" };
        if m.role != expected {
            return Err(TokenizerError::InvalidConversation {
                template: "mistral",
                reason: format!(
                    "message {i} after the system prompt is {:?}, expected {expected:?}",
                    m.role
                ),
            });
        }
        if expected == "user" {
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

/// The fixed system text a ChatML template inserts when the first message is not `system`:
/// a string literal `'<|im_start|>system\n...<|im_end|>` under a `!= 'system'` condition.
fn default_chatml_system(template: &str) -> Option<String> {
    let conditional = ["!= 'system'", "!= \"system\""]
        .iter()
        .any(|c| template.contains(c));
    if !conditional {
        return None;
    }
    let marker = "<|im_start|>system";
    template.match_indices(marker).find_map(|(at, _)| {
        let rest = &template[at + marker.len()..];
        let rest = rest
            .strip_prefix('\n')
            .or_else(|| rest.strip_prefix("\\n"))?;
        let text = &rest[..rest.find(IM_END)?];
        literal_text(text)
    })
}

/// Unescapes the body of a Jinja string literal, or `None` if `raw` leaves the literal
/// (an unescaped quote) or holds template syntax.
fn literal_text(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other),
            },
            '\'' | '"' | '{' | '}' => return None,
            _ => out.push(c),
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_literal_default_system() {
        let t = "{% if loop.first and messages[0]['role'] != 'system' %}\
                 {{ '<|im_start|>system\\nBe nice.<|im_end|>\\n' }}{% endif %}";
        assert_eq!(default_chatml_system(t).as_deref(), Some("Be nice."));
        let dynamic = "{% if messages[0]['role'] != 'system' %}\
                       {{ '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>' }}";
        assert_eq!(default_chatml_system(dynamic), None);
    }

    #[test]
    fn unsupported_template_is_an_error() {
        let err = ChatTemplate::detect("{{ messages }}").unwrap_err();
        assert!(err.to_string().contains("no Jinja engine"));
    }

    #[test]
    fn mistral_alternation() {
        let t = ChatTemplate::Mistral;
        let ok = [
            ChatMessage::new("system", "S"),
            ChatMessage::new("user", "hi"),
            ChatMessage::new("assistant", "yo"),
            ChatMessage::new("user", "q"),
        ];
        assert_eq!(
            t.render(&ok, true).unwrap(),
            "[INST] S\n\nhi [/INST]yo</s>[INST] q [/INST]"
        );
        assert!(
            t.render(&[ChatMessage::new("assistant", "x")], true)
                .is_err()
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
}
