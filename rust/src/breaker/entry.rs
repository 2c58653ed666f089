//! The compact record of one breaker (64 bytes) and its sliding failure-rate
//! window: a ring of [`WINDOW_BUCKETS`] `[calls, failures]` buckets indexed by
//! bucket number (`now_ms / bucket_ms`).

use super::state::BreakerState;

/// Number of time buckets in the sliding failure-rate window.
pub const WINDOW_BUCKETS: usize = 8;

/// One tracked breaker: 64 bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    /// Time of the last state change (or creation), ms.
    pub(super) last_change_ms: u64,
    /// Window counts: `[calls, failures]` per bucket, ring indexed by bucket number.
    pub(super) buckets: [[u16; 2]; WINDOW_BUCKETS],
    /// Offset of the key in the arena.
    pub(super) key_off: u32,
    /// Jittered length of the current open period (`open_until` = `last_change_ms` + this).
    pub(super) open_period_ms: u32,
    /// Bucket number (`now / bucket_ms`, truncated to u32) of the newest bucket.
    pub(super) head_bucket: u32,
    /// Last activity, in whole seconds.
    pub(super) last_seen_s: u32,
    pub(super) consecutive_failures: u16,
    pub(super) half_open_in_flight: u16,
    pub(super) key_len: u8,
    pub(super) state: u8,
    pub(super) consecutive_openings: u8,
}

impl Entry {
    /// A closed breaker created at `now_ms` (bucket number `bucket`), with an
    /// empty window; the key fields are set by the store.
    pub(super) fn new(now_ms: u64, bucket: u64) -> Self {
        Self {
            last_change_ms: now_ms,
            buckets: [[0; 2]; WINDOW_BUCKETS],
            key_off: 0,
            open_period_ms: 0,
            head_bucket: bucket as u32,
            last_seen_s: (now_ms / 1000) as u32,
            consecutive_failures: 0,
            half_open_in_flight: 0,
            key_len: 0,
            state: BreakerState::Closed.to_u8(),
            consecutive_openings: 0,
        }
    }

    pub(super) fn state(&self) -> BreakerState {
        BreakerState::from_u8(self.state)
    }

    pub(super) fn open_until(&self) -> u64 {
        self.last_change_ms + u64::from(self.open_period_ms)
    }

    pub(super) fn clear_window(&mut self) {
        self.buckets = [[0; 2]; WINDOW_BUCKETS];
    }

    /// Buckets between the head and `now_bucket` (wrapping `u32` bucket numbers;
    /// a `now_bucket` behind the head counts as the head).
    fn age(&self, now_bucket: u64) -> u32 {
        let age = (now_bucket as u32).wrapping_sub(self.head_bucket);
        if age >= 1 << 31 { 0 } else { age }
    }

    /// Window totals as of bucket number `now_bucket`.
    pub(super) fn window_counts(&self, now_bucket: u64) -> (u32, u32) {
        let age = self.age(now_bucket) as usize;
        if age >= WINDOW_BUCKETS {
            return (0, 0);
        }
        let mut calls = 0u32;
        let mut failures = 0u32;
        // Buckets head-(7-age)..=head are still inside the window.
        for back in 0..(WINDOW_BUCKETS - age) {
            let b = self.head_bucket.wrapping_sub(back as u32);
            let [c, f] = self.buckets[b as usize % WINDOW_BUCKETS];
            calls += u32::from(c);
            failures += u32::from(f);
        }
        (calls, failures)
    }

    /// Advances the ring to `now_bucket`, zeroing buckets that left the window.
    fn advance_to(&mut self, now_bucket: u64) {
        let gap = self.age(now_bucket);
        if gap == 0 {
            return;
        }
        if gap as usize >= WINDOW_BUCKETS {
            self.clear_window();
        } else {
            for step in 1..=gap {
                let b = self.head_bucket.wrapping_add(step);
                self.buckets[b as usize % WINDOW_BUCKETS] = [0, 0];
            }
        }
        self.head_bucket = now_bucket as u32;
    }

    pub(super) fn add_outcome(&mut self, now_bucket: u64, failed: bool) {
        self.advance_to(now_bucket);
        let slot = &mut self.buckets[self.head_bucket as usize % WINDOW_BUCKETS];
        if slot[0] == u16::MAX {
            // Saturated bucket: halve both counts, keeping the rate.
            slot[0] /= 2;
            slot[1] /= 2;
        }
        slot[0] += 1;
        if failed {
            slot[1] += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_is_64_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 64);
    }

    #[test]
    fn window_slides_bucket_by_bucket() {
        let mut e = Entry::new(0, 0);
        e.add_outcome(0, true);
        e.add_outcome(3, false);
        e.add_outcome(7, false);
        assert_eq!(e.window_counts(7), (3, 1));
        // Bucket 0 leaves the window at bucket 8, bucket 3 at bucket 11.
        assert_eq!(e.window_counts(8), (2, 0));
        assert_eq!(e.window_counts(10), (2, 0));
        assert_eq!(e.window_counts(11), (1, 0));
        assert_eq!(e.window_counts(15), (0, 0));
        // A bucket number behind the head reads as the head.
        assert_eq!(e.window_counts(2), (3, 1));
        // Advancing zeroes the ring slots that left the window.
        e.add_outcome(9, true);
        assert_eq!(e.window_counts(9), (3, 1));
        e.add_outcome(100, false);
        assert_eq!(e.window_counts(100), (1, 0));
    }

    #[test]
    fn saturated_bucket_halves_keeping_the_rate() {
        let mut e = Entry::new(0, 0);
        for i in 0..u32::from(u16::MAX) {
            e.add_outcome(0, i % 4 == 0);
        }
        assert_eq!(e.window_counts(0), (65_535, 16_384));
        e.add_outcome(0, true);
        assert_eq!(e.window_counts(0), (32_768, 8_193));
    }

    #[test]
    fn bucket_numbers_wrap_at_u32() {
        let last = u64::from(u32::MAX);
        let mut e = Entry::new(0, last);
        e.add_outcome(last, true);
        e.add_outcome(last + 1, false);
        assert_eq!(e.window_counts(last + 1), (2, 1));
        assert_eq!(e.window_counts(last + 8), (1, 0));
    }
}
