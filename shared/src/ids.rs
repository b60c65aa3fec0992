//! Identifiers. Conversation and message ids are ULIDs (time-ordered, unguessable enough for
//! ids that are also scoped by account); contact ids are derived from (page, Facebook user) so
//! that creating a contact is idempotent without a lookup.

pub fn new_id(prefix: &str, now_ms: i64) -> String {
    let ts = std::time::UNIX_EPOCH
        + std::time::Duration::from_millis(u64::try_from(now_ms).unwrap_or(0));
    let ulid = ulid::Ulid::from_datetime(ts);
    format!("{prefix}_{}", ulid.to_string().to_lowercase())
}

pub fn contact_id(page_id: &str, user_id: &str) -> String {
    format!("ct_{page_id}_{user_id}")
}

pub fn conversation_prefix() -> &'static str {
    "cv"
}

pub fn message_prefix() -> &'static str {
    "ms"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_time_ordered() {
        let a = new_id("cv", 1_000);
        let b = new_id("cv", 2_000);
        assert_ne!(a, new_id("cv", 1_000));
        assert!(a < b, "{a} < {b}");
        assert!(a.starts_with("cv_"));
    }
}
