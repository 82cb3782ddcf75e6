//! Call details inside an entry's text.
//!
//! Capsule entries have no fields for a call's direction, duration, outcome or recording, so
//! they live at the end of the entry's `content` as one block that reads well in Capsule's
//! web app and survives a person editing the note there:
//!
//! ```text
//! Talked through the renewal.
//!
//! --- Call details ---
//! Direction: outbound
//! Duration: 330 seconds
//! Outcome: connected
//! Recording: https://calls.example.com/r/8812
//! ```
//!
//! - The block starts at a line `--- Call details ---` (dashes and case are not significant)
//!   and runs over the `Key: value` lines right after it, in any order; it ends at the first
//!   other line (a blank line, or text someone added after it), which stays in the text.
//! - Keys: `Direction` (`inbound` / `outbound`), `Duration` (whole seconds: `330`, `330s`,
//!   `330 seconds`, or `5:30` / `1:05:30`), `Outcome` (one line of free text), `Recording`
//!   (an http(s) URL). Any case; CRLF line ends are read like LF.
//! - A line whose value cannot be read (`Duration: about five minutes`) is not a detail: it is
//!   kept in the text, so nothing a person wrote is lost.
//! - When there are several separator lines, the last one followed by a detail starts the
//!   block. Writing puts the block after the text (trailing whitespace dropped, one blank line
//!   between), keys in the order above, with the text's own line ending.

use crate::unified::engagement::Direction;

/// The separator line written before the details.
pub const SEPARATOR: &str = "--- Call details ---";

/// Longest `outcome` accepted (characters).
pub const MAX_OUTCOME_CHARS: usize = 100;

/// What a call entry records beyond its text; `None` = not recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallDetails {
    pub direction: Option<Direction>,
    pub duration_seconds: Option<u32>,
    pub outcome: Option<String>,
    pub recording_url: Option<String>,
}

impl CallDetails {
    pub fn is_empty(&self) -> bool {
        *self == CallDetails::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Direction,
    Duration,
    Outcome,
    Recording,
}

fn key_of(name: &str) -> Option<Key> {
    match name.trim().to_ascii_lowercase().as_str() {
        "direction" => Some(Key::Direction),
        "duration" => Some(Key::Duration),
        "outcome" => Some(Key::Outcome),
        "recording" => Some(Key::Recording),
        _ => None,
    }
}

fn is_separator(line: &str) -> bool {
    let t = line.trim();
    t.starts_with('-')
        && t.trim_matches(|c| c == '-' || c == ' ')
            .eq_ignore_ascii_case("call details")
}

/// `inbound` / `outbound`, any case.
pub fn parse_direction(v: &str) -> Option<Direction> {
    match v.trim().to_ascii_lowercase().as_str() {
        "inbound" => Some(Direction::Inbound),
        "outbound" => Some(Direction::Outbound),
        _ => None,
    }
}

/// Whole seconds: `330`, `330s`, `330 sec`, `330 seconds`, `5:30`, `1:05:30`.
pub fn parse_duration(v: &str) -> Option<u32> {
    let v = v.trim().to_ascii_lowercase();
    if v.contains(':') {
        let parts: Vec<&str> = v.split(':').collect();
        if parts.len() > 3
            || parts
                .iter()
                .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return None;
        }
        let nums: Vec<u64> = parts
            .iter()
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        // Minutes and seconds after the first part are below 60.
        if nums.iter().skip(1).any(|n| *n >= 60) {
            return None;
        }
        let total = nums
            .iter()
            .fold(0u64, |acc, n| acc.saturating_mul(60).saturating_add(*n));
        return u32::try_from(total).ok();
    }
    let number = ["seconds", "second", "secs", "sec", "s"]
        .iter()
        .find_map(|unit| v.strip_suffix(unit))
        .unwrap_or(&v)
        .trim();
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse().ok()
}

/// One line of free text, at most [`MAX_OUTCOME_CHARS`] characters.
pub fn check_outcome(v: &str) -> Result<String, String> {
    let t = v.trim();
    if t.is_empty() {
        return Err("`outcome` must not be empty".into());
    }
    if t.contains(['\n', '\r']) {
        return Err("`outcome` must be one line".into());
    }
    if t.chars().count() > MAX_OUTCOME_CHARS {
        return Err(format!(
            "`outcome` can be at most {MAX_OUTCOME_CHARS} characters"
        ));
    }
    Ok(t.to_owned())
}

/// An absolute http or https URL with a host.
pub fn check_recording_url(v: &str) -> Result<String, String> {
    let t = v.trim();
    let bad = || format!("`recording_url` must be an http(s) URL; got \"{t}\"");
    if t.contains(char::is_whitespace) {
        return Err(bad());
    }
    let url = url::Url::parse(t).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(bad());
    }
    Ok(t.to_owned())
}

/// Reads one `Key: value` line into `d`; false when it is not a readable detail.
fn read_line(line: &str, d: &mut CallDetails) -> bool {
    let Some((k, v)) = line.split_once(':') else {
        return false;
    };
    let Some(key) = key_of(k) else {
        return false;
    };
    match key {
        Key::Direction => parse_direction(v).map(|x| d.direction = Some(x)).is_some(),
        Key::Duration => parse_duration(v)
            .map(|x| d.duration_seconds = Some(x))
            .is_some(),
        Key::Outcome => check_outcome(v).map(|x| d.outcome = Some(x)).is_ok(),
        Key::Recording => check_recording_url(v)
            .map(|x| d.recording_url = Some(x))
            .is_ok(),
    }
}

fn is_key_line(line: &str) -> bool {
    line.split_once(':')
        .is_some_and(|(k, _)| key_of(k).is_some())
}

/// The line end a text uses: CRLF when it has one, else LF.
fn line_end(text: &str) -> &'static str {
    if text.contains("\r\n") { "\r\n" } else { "\n" }
}

/// Splits stored content into the text around the block and the details in it. Content
/// without a block comes back unchanged with no details.
pub fn parse(content: &str) -> (String, CallDetails) {
    // Lines with their own ends, so the text keeps its line endings.
    let lines: Vec<&str> = content.split_inclusive('\n').collect();
    let bare = |l: &str| l.trim_end_matches(['\n', '\r']).to_owned();
    // The last separator followed by at least one key line starts the block.
    let start = (0..lines.len()).rev().find(|&i| {
        is_separator(&bare(lines[i])) && lines.get(i + 1).is_some_and(|l| is_key_line(&bare(l)))
    });
    let Some(start) = start else {
        return (content.to_owned(), CallDetails::default());
    };
    let mut end = start + 1;
    while end < lines.len() && is_key_line(&bare(lines[end])) {
        end += 1;
    }
    let mut details = CallDetails::default();
    let mut unread: Vec<String> = Vec::new();
    for l in &lines[start + 1..end] {
        let l = bare(l);
        if !read_line(&l, &mut details) {
            unread.push(l.trim().to_owned());
        }
    }
    if details.is_empty() {
        return (content.to_owned(), details);
    }
    let nl = line_end(content);
    let before: String = lines[..start].concat();
    let after: String = lines[end..].concat();
    let mut parts: Vec<String> = Vec::new();
    let before = before.trim_end();
    if !before.is_empty() {
        parts.push(before.to_owned());
    }
    if !unread.is_empty() {
        parts.push(unread.join(nl));
    }
    let after = after.trim_start_matches(['\n', '\r']).trim_end();
    if !after.is_empty() {
        parts.push(after.to_owned());
    }
    let sep = format!("{nl}{nl}");
    (parts.join(&sep), details)
}

/// The content to store: the text, then the block when there are details. Writing the result
/// of [`parse`] back gives the same text and details.
pub fn encode(text: &str, d: &CallDetails) -> String {
    if d.is_empty() {
        return text.to_owned();
    }
    let nl = line_end(text);
    let mut lines = vec![SEPARATOR.to_owned()];
    if let Some(x) = d.direction {
        lines.push(format!("Direction: {}", x.as_str()));
    }
    if let Some(x) = d.duration_seconds {
        lines.push(format!("Duration: {x} seconds"));
    }
    if let Some(x) = &d.outcome {
        lines.push(format!("Outcome: {x}"));
    }
    if let Some(x) = &d.recording_url {
        lines.push(format!("Recording: {x}"));
    }
    let block = lines.join(nl);
    let text = text.trim_end();
    if text.is_empty() {
        block
    } else {
        format!("{text}{nl}{nl}{block}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn full() -> CallDetails {
        CallDetails {
            direction: Some(Direction::Outbound),
            duration_seconds: Some(330),
            outcome: Some("connected".into()),
            recording_url: Some("https://calls.example.com/r/8812".into()),
        }
    }

    #[test]
    fn round_trips_text_and_details() {
        let stored = encode("Talked through the renewal.\nThey want a quote.", &full());
        assert_eq!(
            stored,
            "Talked through the renewal.\nThey want a quote.\n\n--- Call details ---\n\
             Direction: outbound\nDuration: 330 seconds\nOutcome: connected\n\
             Recording: https://calls.example.com/r/8812"
        );
        let (text, d) = parse(&stored);
        assert_eq!(text, "Talked through the renewal.\nThey want a quote.");
        assert_eq!(d, full());
        // Only some details; no text at all.
        let some = CallDetails {
            duration_seconds: Some(0),
            ..Default::default()
        };
        assert_eq!(parse(&encode("Hi", &some)), ("Hi".to_owned(), some.clone()));
        assert_eq!(parse(&encode("", &some)), (String::new(), some));
    }

    #[test]
    fn content_without_a_block_is_untouched() {
        for c in [
            "",
            "Plain note",
            "Line 1\r\nLine 2\r\n",
            "--- Call details ---\n\nDuration 5",
        ] {
            assert_eq!(parse(c), (c.to_owned(), CallDetails::default()), "{c:?}");
        }
        assert_eq!(encode("Plain  \n", &CallDetails::default()), "Plain  \n");
    }

    #[test]
    fn survives_text_edited_around_the_block() {
        let stored = encode("Called about the quote.", &full());
        let edited = format!("Update: they signed!\n\n{stored}\n\nFollow up in May.\n");
        let (text, d) = parse(&edited);
        assert_eq!(d, full());
        assert_eq!(
            text,
            "Update: they signed!\n\nCalled about the quote.\n\nFollow up in May."
        );
        // Text right after the block, with no blank line, is text too.
        let (text, d) = parse("A\n--- Call details ---\nOutcome: voicemail\nCall back Tuesday");
        assert_eq!(d.outcome.as_deref(), Some("voicemail"));
        assert_eq!(text, "A\n\nCall back Tuesday");
    }

    #[test]
    fn reads_reordered_lines_in_any_case() {
        let (text, d) = parse(
            "Notes\n\n-- CALL DETAILS --\nrecording: https://calls.example.com/r/8812\n\
             OUTCOME: connected\nduration: 5:30\nDirection: Outbound",
        );
        assert_eq!(text, "Notes");
        assert_eq!(d, full());
    }

    #[test]
    fn reads_crlf_and_keeps_it_in_the_text() {
        let stored = encode("Line 1\r\nLine 2", &full());
        assert!(stored.contains("\r\n--- Call details ---\r\nDirection: outbound\r\n"));
        assert!(!stored.replace("\r\n", "").contains('\n'), "{stored:?}");
        assert_eq!(parse(&stored), ("Line 1\r\nLine 2".to_owned(), full()));
        let lf = encode("Line 1\nLine 2", &full()).replace('\n', "\r\n");
        assert_eq!(parse(&lf), ("Line 1\r\nLine 2".to_owned(), full()));
    }

    #[test]
    fn a_malformed_value_stays_in_the_text() {
        let (text, d) = parse(
            "Chat\n\n--- Call details ---\nDirection: sideways\nDuration: about five minutes\n\
             Outcome: connected\nRecording: ftp://x.example/r",
        );
        assert_eq!(
            d,
            CallDetails {
                outcome: Some("connected".into()),
                ..Default::default()
            }
        );
        assert_eq!(
            text,
            "Chat\n\nDirection: sideways\nDuration: about five minutes\nRecording: ftp://x.example/r"
        );
        // Written back, the unread lines stay text and the read detail stays a detail.
        assert_eq!(parse(&encode(&text, &d)), (text, d));
    }

    #[test]
    fn the_last_block_wins() {
        let first = encode(
            "One",
            &CallDetails {
                outcome: Some("voicemail".into()),
                ..Default::default()
            },
        );
        let both = format!("{first}\n\n{}", encode("Two", &full()));
        let (text, d) = parse(&both);
        assert_eq!(d, full());
        assert_eq!(text, format!("{first}\n\nTwo"));
    }

    #[test]
    fn value_rules() {
        assert_eq!(parse_duration("330"), Some(330));
        assert_eq!(parse_duration(" 330 s"), Some(330));
        assert_eq!(parse_duration("330 Seconds"), Some(330));
        assert_eq!(parse_duration("1:05:30"), Some(3930));
        assert_eq!(parse_duration("5:60"), None);
        assert_eq!(parse_duration("-5"), None);
        assert_eq!(parse_duration("5.5"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_direction("INBOUND"), Some(Direction::Inbound));
        assert_eq!(parse_direction("in"), None);
        assert!(check_recording_url("http://x.example/a").is_ok());
        assert!(check_recording_url("javascript:alert(1)").is_err());
        assert!(check_recording_url("https://x.example/a b").is_err());
        assert!(check_recording_url("/relative").is_err());
        assert!(check_outcome("left a\nmessage").is_err());
        assert!(check_outcome(&"x".repeat(MAX_OUTCOME_CHARS + 1)).is_err());
        assert_eq!(check_outcome(" voicemail ").unwrap(), "voicemail");
    }
}
