//! The rules of an agent's everyday tools, without I/O: private notes (length, `@mentions`),
//! labels (their spelling, how many) and saved replies (shortcuts and the placeholders a front
//! end fills in), when a conversation that waits on the person is resolved, and how long a
//! snooze may be.

use crate::domain::{AuthorType, Direction};

/// A note is 1 to this many characters.
pub const NOTE_MAX_CHARS: usize = 5000;
/// At most this many labels on a conversation.
pub const LABELS_MAX: usize = 20;
/// A label or a saved reply's shortcut is 1 to this many characters.
pub const NAME_MAX: usize = 50;
/// A saved reply's text is 1 to this many characters (Messenger's text limit).
pub const SAVED_REPLY_MAX_CHARS: usize = 2000;
/// At most this many saved replies per account (one Query reads them all).
pub const SAVED_REPLIES_MAX: usize = 500;
/// The placeholders a saved reply may use; the front end fills them in.
pub const PLACEHOLDERS: [&str; 4] = [
    "contact.first_name",
    "contact.name",
    "agent.name",
    "page.name",
];

/// When a conversation whose latest message is `last` (its direction, author and time) is
/// resolved for want of an answer: `hours` after the team's message (an agent's, the AI
/// agent's or the Page's own), if the person has not written since. `None`: it does not wait
/// on the person (their message is the latest, or an automatic one is), or auto-resolve is off.
pub fn auto_resolve_at(
    last: Option<(Direction, AuthorType, i64)>,
    last_inbound_at: Option<i64>,
    hours: Option<i64>,
) -> Option<i64> {
    let hours = hours?;
    let (direction, author, at) = last?;
    let team = direction == Direction::Out
        && matches!(
            author,
            AuthorType::Agent | AuthorType::Bot | AuthorType::Page
        );
    (team && last_inbound_at.is_none_or(|i| i < at)).then(|| at + hours * 3_600_000)
}

/// A snooze lasts at most this long (a conversation set aside for longer is better resolved;
/// the person's message brings it back either way).
pub const SNOOZE_MAX_DAYS: i64 = 365;

/// A snooze's `until` (RFC 3339, with its offset) as epoch ms: after `now`, within
/// `SNOOZE_MAX_DAYS`. The scheduler wakes it in the minute it falls in.
pub fn snooze_until(until: &str, now: i64) -> Result<i64, String> {
    let at = chrono::DateTime::parse_from_rfc3339(until)
        .map_err(|_| "until: a time in RFC 3339, such as 2026-12-07T09:00:00+01:00".to_owned())?
        .timestamp_millis();
    if at <= now {
        return Err("until: a time in the future".to_owned());
    }
    if at > now + SNOOZE_MAX_DAYS * 86_400_000 {
        return Err(format!("until: at most {SNOOZE_MAX_DAYS} days ahead"));
    }
    Ok(at)
}

/// A note's text: 1–5,000 characters, not blank.
pub fn note_text(text: &str) -> Result<(), String> {
    let n = text.chars().count();
    if text.trim().is_empty() || n > NOTE_MAX_CHARS {
        return Err(format!(
            "text: 1 to {NOTE_MAX_CHARS} characters, not only spaces"
        ));
    }
    Ok(())
}

/// The agents a note names: `@<id>` at the start or after a space or an opening bracket, where
/// `<id>` is one of `agents` (longest first, so `@ann-2` is not `@ann`) and is followed by the
/// end, a space or punctuation. An address like `ann@example.com` names nobody. Each agent once,
/// in the order named.
pub fn mentions<'a>(text: &str, agents: &[&'a str]) -> Vec<&'a str> {
    let mut by_length: Vec<&'a str> = agents.iter().copied().filter(|a| !a.is_empty()).collect();
    by_length.sort_by_key(|a| std::cmp::Reverse(a.len()));
    let mut out: Vec<&'a str> = Vec::new();
    let mut prev: Option<char> = None;
    for (i, ch) in text.char_indices() {
        let starts = ch == '@' && prev.is_none_or(|p| p.is_whitespace() || "([{\"'".contains(p));
        prev = Some(ch);
        if !starts {
            continue;
        }
        let rest = &text[i + 1..];
        let named = by_length.iter().find(|a| {
            rest.starts_with(**a)
                && rest[a.len()..].chars().next().is_none_or(|c| {
                    c.is_whitespace() || (c.is_ascii_punctuation() && c != '-' && c != '_')
                })
        });
        if let Some(a) = named
            && !out.contains(a)
        {
            out.push(a);
        }
    }
    out
}

/// A label's or shortcut's spelling: 1–50 of `a-z 0-9 _ -`.
pub fn is_name(s: &str) -> bool {
    (1..=NAME_MAX).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A conversation's labels as given: each spelled as `is_name` says, at most 20 once repeats
/// are dropped. Sorted, so a set and its listing agree.
pub fn labels(given: &[String], field: &str) -> Result<Vec<String>, Vec<String>> {
    let mut problems: Vec<String> = given
        .iter()
        .filter(|l| !is_name(l))
        .map(|l| format!("{field}: {l:?} is not 1 to {NAME_MAX} of a-z 0-9 _ -"))
        .collect();
    let mut out: Vec<String> = given.to_vec();
    out.sort();
    out.dedup();
    if out.len() > LABELS_MAX {
        problems.push(format!("{field}: at most {LABELS_MAX} labels"));
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// A saved reply's text: 1–2,000 characters, and only the known `{{placeholders}}`.
pub fn saved_reply_text(text: &str) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    if text.trim().is_empty() || text.chars().count() > SAVED_REPLY_MAX_CHARS {
        problems.push(format!(
            "text: 1 to {SAVED_REPLY_MAX_CHARS} characters, not only spaces"
        ));
    }
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            problems.push("text: a {{ without its }}".to_owned());
            break;
        };
        let name = after[..close].trim();
        if !PLACEHOLDERS.contains(&name) {
            problems.push(format!(
                "text: {{{{{name}}}}} is not one of {}",
                PLACEHOLDERS.map(|p| format!("{{{{{p}}}}}")).join(", ")
            ));
        }
        rest = &after[close + 2..];
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snooze_ends_in_the_future_within_a_year() {
        let now = 1_780_000_000_000; // 2026-05-28T20:26:40Z
        assert_eq!(
            snooze_until("2026-05-28T21:26:40Z", now),
            Ok(now + 3_600_000)
        );
        // The offset counts: 23:26:40+02:00 is 21:26:40Z.
        assert_eq!(
            snooze_until("2026-05-28T23:26:40+02:00", now),
            Ok(now + 3_600_000)
        );
        assert!(snooze_until("2026-05-28T20:26:40Z", now).is_err());
        assert!(snooze_until("2026-05-28 21:00", now).is_err());
        assert!(snooze_until("tomorrow", now).is_err());
        assert!(snooze_until("2027-05-28T20:26:40Z", now).is_ok());
        assert!(snooze_until("2027-05-29T20:26:40Z", now).is_err());
    }

    #[test]
    fn only_a_conversation_waiting_on_the_person_is_resolved_and_only_when_on() {
        let h = 3_600_000;
        let agent = Some((Direction::Out, AuthorType::Agent, 10 * h));
        assert_eq!(auto_resolve_at(agent, Some(9 * h), Some(24)), Some(34 * h));
        assert_eq!(auto_resolve_at(agent, Some(9 * h), None), None, "off");
        assert_eq!(
            auto_resolve_at(
                Some((Direction::Out, AuthorType::Bot, 10 * h)),
                None,
                Some(1)
            ),
            Some(11 * h),
            "the AI agent's answer counts"
        );
        assert_eq!(
            auto_resolve_at(
                Some((Direction::Out, AuthorType::System, 10 * h)),
                Some(9 * h),
                Some(1)
            ),
            None,
            "an away message is not an answer"
        );
        assert_eq!(
            auto_resolve_at(
                Some((Direction::In, AuthorType::Contact, 10 * h)),
                Some(10 * h),
                Some(1)
            ),
            None,
            "the person is waiting"
        );
        assert_eq!(
            auto_resolve_at(agent, Some(11 * h), Some(1)),
            None,
            "they wrote since"
        );
        assert_eq!(auto_resolve_at(None, None, Some(1)), None);
    }

    #[test]
    fn a_note_is_one_to_five_thousand_characters() {
        assert!(note_text("x").is_ok());
        assert!(
            note_text(&"ž".repeat(5000)).is_ok(),
            "characters, not bytes"
        );
        assert!(note_text(&"x".repeat(5001)).is_err());
        assert!(note_text("  \n").is_err());
    }

    #[test]
    fn mentions_name_known_agents_at_a_word_start_once() {
        let agents = ["ann", "ann-2", "bob.k"];
        assert_eq!(
            mentions("@ann and @ann-2, ask (@bob.k). @ann again", &agents),
            ["ann", "ann-2", "bob.k"]
        );
        assert!(mentions("mail ann@example.com", &agents).is_empty());
        assert!(mentions("@annie is not ann", &agents).is_empty());
        assert!(mentions("@nobody", &agents).is_empty());
        assert_eq!(mentions("cc @ann.", &agents), ["ann"]);
        assert_eq!(mentions("@ann_x", &agents), Vec::<&str>::new());
    }

    #[test]
    fn labels_are_spelled_small_counted_and_sorted_once() {
        assert_eq!(
            labels(&["vip".into(), "refund-2".into(), "vip".into()], "labels"),
            Ok(vec!["refund-2".to_owned(), "vip".to_owned()])
        );
        let bad = labels(&["VIP".into(), "".into(), "a b".into()], "labels").unwrap_err();
        assert_eq!(bad.len(), 3, "{bad:?}");
        let many: Vec<String> = (0..21).map(|i| format!("l{i}")).collect();
        assert!(labels(&many, "labels").is_err());
        assert!(labels(&many[..20], "labels").is_ok());
        assert!(is_name(&"a".repeat(50)) && !is_name(&"a".repeat(51)));
    }

    #[test]
    fn saved_replies_use_only_the_known_placeholders() {
        assert!(saved_reply_text("Hi {{contact.first_name}}, {{ agent.name }} here").is_ok());
        assert!(saved_reply_text("Hi {{contact.email}}").is_err());
        assert!(saved_reply_text("Hi {{contact.name").is_err());
        assert!(saved_reply_text(" ").is_err());
        assert!(saved_reply_text("{ not a placeholder }").is_ok());
    }
}
