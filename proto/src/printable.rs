//! Text from servers made safe to print (behaviour.md, "Surfaces"): control characters and bidi
//! controls become `\u{..}` escapes, so a hostile server's id or message cannot move the cursor,
//! clear a terminal, forge a line or reorder what a reader sees.
//!
//! The library keeps raw values in typed fields (a [`crate::ServerEntry`]'s `id`); its messages
//! (errors, events) escape what a server supplied, and every printer (the `scoutlb` command, the
//! fleet tool, the demo) escapes what it prints.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal or log as it is: a control character (C0, DEL, C1), a
/// bidi control (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069) or a line or paragraph
/// separator (U+2028, U+2029).
pub fn is_unprintable(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}'
        )
}

/// `text` with every [`is_unprintable`] character written as `\u{..}` (ESC is `\u{1b}`).
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unprintable) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unprintable(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_bidi_and_keeps_the_rest() {
        assert_eq!(printable("srv-a"), "srv-a");
        assert!(matches!(printable("ünïcode ok"), Cow::Borrowed(_)));
        assert_eq!(printable("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(
            printable("x\r\ndefault server: evil\u{7}"),
            "x\\u{d}\\u{a}default server: evil\\u{7}"
        );
        assert_eq!(printable("\u{202e}gnp.exe\u{2066}"), "\\u{202e}gnp.exe\\u{2066}");
        assert_eq!(printable("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(printable("\u{2028}"), "\\u{2028}");
    }
}
