//! What a warm Lambda keeps between invocations for a while: values by key, each with the
//! time it was read, so a reader decides how long a value stays good. The caches of Pages,
//! of a Page's settings and rules, and of an agent's Pages are this.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct TtlMap<K, V> {
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K, V> Default for TtlMap<K, V> {
    fn default() -> Self {
        TtlMap {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V: Clone> TtlMap<K, V> {
    /// The value at `key` if it was put less than `ttl(value)` ago.
    pub fn fresh<Q>(&self, key: &Q, ttl: impl FnOnce(&V) -> Duration) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let m = self.entries.lock().ok()?;
        let (v, at) = m.get(key)?;
        (at.elapsed() < ttl(v)).then(|| v.clone())
    }

    /// Keeps `value` at `key`, read now.
    pub fn put(&self, key: K, value: V) {
        if let Ok(mut m) = self.entries.lock() {
            m.insert(key, (value, Instant::now()));
        }
    }

    pub fn remove<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if let Ok(mut m) = self.entries.lock() {
            m.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_fresh_for_the_time_its_reader_gives() {
        let m: TtlMap<&str, i32> = TtlMap::default();
        assert_eq!(m.fresh(&"a", |_| Duration::from_secs(60)), None);
        m.put("a", 1);
        assert_eq!(m.fresh(&"a", |_| Duration::from_secs(60)), Some(1));
        assert_eq!(
            m.fresh(&"a", |_| Duration::ZERO),
            None,
            "a TTL of 0 never holds"
        );
        m.remove(&"a");
        assert_eq!(m.fresh(&"a", |_| Duration::from_secs(60)), None);
    }
}
