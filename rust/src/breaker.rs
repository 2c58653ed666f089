//! TEMPORARY SHIM written on the `routing` branch so the router binding compiles
//! and can be tested before the breaker branch lands. It exposes only what the
//! router needs (`BreakerRegistry::would_allow`) plus `force_open`/`force_reset`
//! for tests. The breaker branch's real module replaces this file on merge.

use std::collections::HashSet;

/// Shim registry: a key is refused iff it was force-opened.
#[derive(Debug, Default)]
pub struct BreakerRegistry {
    forced: HashSet<String>,
}

impl BreakerRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuses `key` until [`BreakerRegistry::force_reset`].
    pub fn force_open(&mut self, key: &str) {
        self.forced.insert(key.to_owned());
    }

    /// Admits `key` again.
    pub fn force_reset(&mut self, key: &str) {
        self.forced.remove(key);
    }

    /// Side-effect-free peek: whether a call on `key` would be admitted now.
    pub fn would_allow(&self, key: &str, _now_ms: u64) -> bool {
        !self.forced.contains(key)
    }
}
