//! Identifiers. Conversation and message ids are ULIDs (time-ordered, unguessable enough for
//! ids that are also scoped by account); contact ids are derived from (page, Facebook user) so
//! that creating a contact is idempotent without a lookup.

pub fn new_id(prefix: &str, now_ms: i64) -> String {
    let ts = std::time::UNIX_EPOCH
        + std::time::Duration::from_millis(u64::try_from(now_ms).unwrap_or(0));
    let ulid = ulid::Ulid::from_datetime(ts);
    format!("{prefix}_{}", ulid.to_string().to_lowercase())
}

/// A ULID-shaped id that is the same every time for the same (`time_ms`, `seed`): a message
/// keyed by Meta's time and id lands on the same key when Meta delivers it again, so its own
/// conditional put is the dedupe (no guard item).
pub fn keyed_id(prefix: &str, time_ms: i64, seed: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(seed.as_bytes());
    let mut random = [0u8; 16];
    random[6..].copy_from_slice(&digest[..10]);
    let ulid = ulid::Ulid::from_parts(
        u64::try_from(time_ms).unwrap_or(0),
        u128::from_be_bytes(random),
    );
    format!("{prefix}_{}", ulid.to_string().to_lowercase())
}

/// The time (epoch ms) an id made by `new_id` or `keyed_id` carries; `None` for anything else.
pub fn time_of(id: &str) -> Option<i64> {
    let (_, ulid) = id.split_once('_')?;
    let ulid = ulid::Ulid::from_string(&ulid.to_uppercase()).ok()?;
    i64::try_from(ulid.timestamp_ms()).ok()
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
mod time_tests {
    #[test]
    fn an_id_tells_its_time() {
        assert_eq!(
            super::time_of(&super::new_id("ms", 1_700_000_000_123)),
            Some(1_700_000_000_123)
        );
        assert_eq!(super::time_of(&super::keyed_id("ms", 42, "m_1")), Some(42));
        assert_eq!(super::time_of("ms_not-a-ulid"), None);
        assert_eq!(super::time_of("nounderscore"), None);
    }
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

    #[test]
    fn keyed_ids_repeat_for_the_same_seed_and_time_only() {
        let a = keyed_id("ms", 1_700_000_000_000, "m_1");
        assert_eq!(a, keyed_id("ms", 1_700_000_000_000, "m_1"));
        assert_ne!(a, keyed_id("ms", 1_700_000_000_000, "m_2"));
        assert_ne!(a, keyed_id("ms", 1_700_000_000_001, "m_1"));
        assert!(
            a < keyed_id("ms", 1_700_000_000_001, "m_0"),
            "time-ordered like new_id"
        );
        assert_eq!(a.len(), new_id("ms", 0).len());
    }
}
