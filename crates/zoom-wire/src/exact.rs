//! JSON parsing that keeps integers beyond 64 bits as their exact digits.
//!
//! Without serde_json's `arbitrary_precision` feature (which would change
//! number handling for the whole workspace), an integer that fits neither
//! `i64` nor `u64` is read as an `f64`: meeting id `18446744073709551616000`
//! would become `1.8446744073709552e22`. Before parsing, such integers are
//! rewritten as JSON strings of the same digits, which [`crate::NumOrString`]
//! and every `Value` consumer then see exactly.

use std::borrow::Cow;

use serde_json::Value;

/// Digits at which an integer may no longer fit 64 bits (`u64::MAX` has 20).
const MAY_OVERFLOW_DIGITS: usize = 20;

/// Parses `text` as JSON, keeping integers beyond `i64` / `u64` as strings of
/// their exact digits (with a leading `-` when negative).
///
/// # Errors
/// As [`serde_json::from_str`].
pub(crate) fn parse_value(text: &str) -> Result<Value, serde_json::Error> {
    serde_json::from_str(&quote_big_integers(text))
}

/// `text` with each integer literal outside strings that fits neither `i64`
/// nor `u64` wrapped in quotes; borrowed when there is none (the common case).
pub(crate) fn quote_big_integers(text: &str) -> Cow<'_, str> {
    if !has_long_digit_run(text) {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 8);
    let mut copied = 0;
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 2,
                b'"' => {
                    in_string = false;
                    i += 1;
                }
                _ => i += 1,
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                i += 1;
                while i < bytes.len()
                    && matches!(bytes[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
                {
                    i += 1;
                }
                let literal = &text[start..i];
                if is_big_integer(literal) {
                    out.push_str(&text[copied..start]);
                    out.push('"');
                    out.push_str(literal);
                    out.push('"');
                    copied = i;
                }
            }
            _ => i += 1,
        }
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

fn has_long_digit_run(text: &str) -> bool {
    let mut run = 0;
    for b in text.bytes() {
        if b.is_ascii_digit() {
            run += 1;
            if run >= MAY_OVERFLOW_DIGITS - 1 {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// A well-formed JSON integer (no fraction or exponent) outside 64 bits.
fn is_big_integer(literal: &str) -> bool {
    let digits = literal.strip_prefix('-').unwrap_or(literal);
    let well_formed = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    well_formed && literal.parse::<i64>().is_err() && literal.parse::<u64>().is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_integers_keep_their_digits() {
        let v = parse_value(r#"{"id":18446744073709551616000,"n":-99999999999999999999,"ok":18446744073709551615,"s":"18446744073709551616000","f":1.5e300}"#).unwrap();
        assert_eq!(v["id"], "18446744073709551616000");
        assert_eq!(v["n"], "-99999999999999999999");
        assert_eq!(v["ok"], 18_446_744_073_709_551_615u64);
        assert_eq!(v["s"], "18446744073709551616000");
        assert!(v["f"].is_f64());
    }

    #[test]
    fn strings_and_escapes_are_left_alone() {
        let text = r#"{"a":"x\"123456789012345678901234\\","b":[123456789012345678901234]}"#;
        let v = parse_value(text).unwrap();
        assert_eq!(v["a"], "x\"123456789012345678901234\\");
        assert_eq!(v["b"][0], "123456789012345678901234");
        assert!(matches!(quote_big_integers(r#"{"a":1}"#), Cow::Borrowed(_)));
        // Malformed numbers stay malformed: the parser reports them.
        assert!(parse_value("[0123456789012345678901]").is_err());
    }
}
