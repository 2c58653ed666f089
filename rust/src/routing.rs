//! Routing scores: per-(peer, transport) reliability and latency estimates, a
//! pure ranking, and a send plan with hedging and deterministic exploration.
//!
//! Sans-I/O and deterministic: time comes in as `now_ms`, the only randomness is a
//! [`SplitMix64`] seeded from [`RouterConfig::seed`], and breaker refusals come in
//! as a filter closure so this module does not depend on `crate::breaker`.
//!
//! # Model
//!
//! * **Reliability** of a pair is the mean of a Beta posterior whose prior is the
//!   transport's prior `p` with weight `w` (`prior_weight`):
//!   `r = (p·w + S) / (w + S + F)`, where `S`, `F` are success and failure
//!   pseudo-counts. The counts decay with half-life `half_life_ms`
//!   (multiplied by `2^(-Δt / half_life)`), so without new evidence `r` returns
//!   to the prior: a transport that failed in the past gets tried again.
//! * **Latency** follows RFC 6298: the first sample `R` sets `srtt = R`,
//!   `rttvar = R / 2`; later samples `rttvar ← ¾·rttvar + ¼·|srtt − R|`,
//!   `srtt ← ⅞·srtt + ⅛·R`. A pair without a sample uses `default_rtt_ms`.
//! * **Score** `= r / (1 + latency / latency_scale_ms)`, in `[0, 1]`.
//!
//! Ranking is best score first; equal scores keep the caller's order.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use crate::error::{CoreError, CoreResult};
use crate::rng::{SplitMix64, mix64};

/// The seed design's transport priors; any other transport uses `default_prior`.
pub const DEFAULT_PRIORS: [(&str, f64); 3] = [("integrated", 1.0), ("gun", 0.8), ("peerjs", 0.6)];

/// At most this many distinct transport names are tracked by one router.
pub const MAX_TRANSPORTS: usize = 1024;

/// RFC 6298's `K`: the timeout is `srtt + K * rttvar`.
const RTO_K: f64 = 4.0;
/// RFC 6298 smoothing gain of `srtt`.
pub const RTT_ALPHA: f64 = 0.125;
/// RFC 6298 smoothing gain of `rttvar`.
pub const RTT_BETA: f64 = 0.25;

const NIL: u32 = u32::MAX;

/// Tunables of a [`Router`]. Build with `RouterConfig::default()` and override.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterConfig {
    /// Per-transport priors merged over [`DEFAULT_PRIORS`] (later entries win).
    pub priors: Vec<(String, f64)>,
    /// Prior of a transport with no entry in the merged priors, in `[0, 1]`.
    pub default_prior: f64,
    /// Weight of the prior in pseudo-observations, `> 0`.
    pub prior_weight: f64,
    /// Half-life of the success/failure pseudo-counts, `>= 1` ms.
    pub half_life_ms: u64,
    /// Cap of `successes + failures` (scaled down together beyond it), `> 0`:
    /// bounds how many observations a change of behaviour takes to show,
    /// whatever the send rate.
    pub max_evidence: f64,
    /// Share of [`Router::plan`] calls that promote a non-best transport, `[0, 1]`.
    pub exploration: f64,
    /// Seed of the exploration generator (and of the hash maps).
    pub seed: u64,
    /// Peers tracked at most; the least recently observed is evicted beyond.
    pub max_peers: usize,
    /// Latency at which the score is halved, `> 0` ms.
    pub latency_scale_ms: f64,
    /// Latency assumed for a pair without an RTT sample, `>= 0` ms.
    pub default_rtt_ms: f64,
    /// Hedge delay is `srtt + hedge_k · rttvar`, `hedge_k >= 0`.
    pub hedge_k: f64,
    /// Lower clamp of the hedge delay, ms.
    pub min_hedge_ms: u64,
    /// Upper clamp of the hedge delay, ms (`>= min_hedge_ms`).
    pub max_hedge_ms: u64,
    /// A primary whose reliability is below this is sent in parallel, `[0, 1]`.
    pub parallel_below: f64,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            priors: Vec::new(),
            default_prior: 0.5,
            prior_weight: 2.0,
            half_life_ms: 60_000,
            max_evidence: 50.0,
            exploration: 0.05,
            seed: 0,
            max_peers: 100_000,
            latency_scale_ms: 1_000.0,
            default_rtt_ms: 100.0,
            hedge_k: 2.0,
            min_hedge_ms: 10,
            max_hedge_ms: 2_000,
            parallel_below: 0.5,
        }
    }
}

fn unit(arg: &'static str, v: f64) -> CoreResult<()> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(CoreError::invalid(
            arg,
            format!("must be in [0, 1], got {v}"),
        ))
    }
}

impl RouterConfig {
    /// Checks every field; the error names the first offending one.
    pub fn validate(&self) -> CoreResult<()> {
        for (name, p) in &self.priors {
            if name.is_empty() {
                return Err(CoreError::invalid(
                    "priors",
                    "transport names must be non-empty",
                ));
            }
            if !(p.is_finite() && (0.0..=1.0).contains(p)) {
                return Err(CoreError::invalid(
                    "priors",
                    format!("prior of `{name}` must be in [0, 1], got {p}"),
                ));
            }
        }
        unit("default_prior", self.default_prior)?;
        if !(self.prior_weight.is_finite() && self.prior_weight > 0.0) {
            return Err(CoreError::invalid(
                "prior_weight",
                format!("must be finite and > 0, got {}", self.prior_weight),
            ));
        }
        if self.half_life_ms == 0 {
            return Err(CoreError::invalid("half_life_ms", "must be >= 1"));
        }
        if !(self.max_evidence.is_finite() && self.max_evidence > 0.0) {
            return Err(CoreError::invalid(
                "max_evidence",
                format!("must be finite and > 0, got {}", self.max_evidence),
            ));
        }
        unit("exploration", self.exploration)?;
        if self.max_peers == 0 || self.max_peers >= NIL as usize {
            return Err(CoreError::invalid(
                "max_peers",
                format!("must be in [1, {}], got {}", NIL - 1, self.max_peers),
            ));
        }
        if !(self.latency_scale_ms.is_finite() && self.latency_scale_ms > 0.0) {
            return Err(CoreError::invalid(
                "latency_scale_ms",
                format!("must be finite and > 0, got {}", self.latency_scale_ms),
            ));
        }
        if !(self.default_rtt_ms.is_finite() && self.default_rtt_ms >= 0.0) {
            return Err(CoreError::invalid(
                "default_rtt_ms",
                format!("must be finite and >= 0, got {}", self.default_rtt_ms),
            ));
        }
        if !(self.hedge_k.is_finite() && self.hedge_k >= 0.0) {
            return Err(CoreError::invalid(
                "hedge_k",
                format!("must be finite and >= 0, got {}", self.hedge_k),
            ));
        }
        if self.max_hedge_ms < self.min_hedge_ms {
            return Err(CoreError::invalid(
                "max_hedge_ms",
                format!(
                    "must be >= min_hedge_ms ({}), got {}",
                    self.min_hedge_ms, self.max_hedge_ms
                ),
            ));
        }
        unit("parallel_below", self.parallel_below)
    }
}

/// A seeded string hasher: xxh3 over the bytes, chained through `mix64`.
#[derive(Debug, Clone, Copy)]
struct SeededHash(u64);

impl BuildHasher for SeededHash {
    type Hasher = SeededHasher;
    fn build_hasher(&self) -> SeededHasher {
        SeededHasher(self.0)
    }
}

struct SeededHasher(u64);

impl Hasher for SeededHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }
    fn write_u8(&mut self, i: u8) {
        self.0 = mix64(self.0 ^ u64::from(i));
    }
}

type StrMap<V> = HashMap<Box<str>, V, SeededHash>;

/// The estimates of one (peer, transport) pair. Counts are valid as of `last_ms`.
#[derive(Debug, Clone, Copy)]
struct PairStats {
    transport: u16,
    successes: f64,
    failures: f64,
    /// `NaN` until the first RTT sample.
    srtt: f64,
    rttvar: f64,
    observations: u64,
    last_ms: u64,
}

#[derive(Debug)]
struct PeerEntry {
    name: Box<str>,
    pairs: Vec<PairStats>,
    prev: u32,
    next: u32,
}

/// A public view of one pair's estimates (see [`Router::snapshot`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RouteStats {
    /// The peer id.
    pub peer: String,
    /// The transport name.
    pub transport: String,
    /// Posterior mean of the delivery probability.
    pub reliability: f64,
    /// Decayed success pseudo-count.
    pub successes: f64,
    /// Decayed failure pseudo-count.
    pub failures: f64,
    /// Smoothed RTT, `None` before the first sample.
    pub srtt_ms: Option<f64>,
    /// RTT mean deviation, `None` before the first sample.
    pub rttvar_ms: Option<f64>,
    /// Observations recorded (not decayed).
    pub observations: u64,
    /// Time of the latest observation.
    pub last_observed_ms: u64,
}

/// One ranked transport: `index` into the caller's list, and its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranked {
    /// Index into the `transports` slice given to the call.
    pub index: usize,
    /// The transport's score.
    pub score: f64,
}

/// A send decision (see [`Router::plan`]); transports are indices into the
/// caller's `transports` slice.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Send on these now (delay 0), best first.
    pub now: Vec<usize>,
    /// Send on these after `delay_ms` unless a reply came first.
    pub hedges: Vec<(usize, u64)>,
    /// Try these, in order, only if everything above failed.
    pub fallbacks: Vec<usize>,
    /// Whether exploration promoted a non-best transport to the front.
    pub explored: bool,
}

/// Reliability and latency estimates per (peer, transport), bounded by
/// `max_peers` with least-recently-observed eviction.
#[derive(Debug)]
pub struct Router {
    cfg: RouterConfig,
    inv_half_life: f64,
    /// Transport name -> small id; ids index `transports`.
    interner: StrMap<u16>,
    /// (name, prior) per transport id.
    transports: Vec<(Box<str>, f64)>,
    /// Peer name -> slot.
    index: StrMap<u32>,
    slots: Vec<Option<PeerEntry>>,
    free: Vec<u32>,
    /// Most recently observed peer.
    head: u32,
    /// Least recently observed peer (next to evict).
    tail: u32,
    rng: SplitMix64,
    pairs: usize,
    evictions: u64,
    scratch: Vec<Ranked>,
}

impl Router {
    /// A router with validated `cfg`.
    pub fn new(cfg: RouterConfig) -> CoreResult<Self> {
        cfg.validate()?;
        let hash = SeededHash(mix64(cfg.seed ^ 0x5157_4152_4d52_4f55));
        let mut router = Self {
            inv_half_life: 1.0 / cfg.half_life_ms as f64,
            interner: HashMap::with_hasher(hash),
            transports: Vec::new(),
            index: HashMap::with_hasher(SeededHash(mix64(hash.0))),
            slots: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            rng: SplitMix64::new(cfg.seed),
            pairs: 0,
            evictions: 0,
            scratch: Vec::new(),
            cfg,
        };
        let overrides = std::mem::take(&mut router.cfg.priors);
        for (name, p) in DEFAULT_PRIORS
            .iter()
            .map(|(n, p)| (*n, *p))
            .chain(overrides.iter().map(|(n, p)| (n.as_str(), *p)))
        {
            let id = router.intern(name)?;
            router.transports[usize::from(id)].1 = p;
        }
        router.cfg.priors = overrides;
        Ok(router)
    }

    /// The configuration.
    pub fn config(&self) -> &RouterConfig {
        &self.cfg
    }

    /// The merged priors (defaults overridden by the configured ones), in
    /// first-seen order.
    pub fn priors(&self) -> Vec<(&str, f64)> {
        let n = DEFAULT_PRIORS.len() + self.cfg.priors.len();
        let mut out: Vec<(&str, f64)> = Vec::with_capacity(n);
        for name in DEFAULT_PRIORS
            .iter()
            .map(|(n, _)| *n)
            .chain(self.cfg.priors.iter().map(|(n, _)| n.as_str()))
        {
            if out.iter().all(|(m, _)| *m != name) {
                out.push((name, self.prior_of(name)));
            }
        }
        out
    }

    /// The prior of `transport`.
    pub fn prior_of(&self, transport: &str) -> f64 {
        self.interner
            .get(transport)
            .map_or(self.cfg.default_prior, |&id| {
                self.transports[usize::from(id)].1
            })
    }

    /// Number of tracked peers.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no peer is tracked.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Number of tracked (peer, transport) pairs.
    pub fn pair_count(&self) -> usize {
        self.pairs
    }

    /// Peers evicted so far because `max_peers` was reached.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    fn intern(&mut self, name: &str) -> CoreResult<u16> {
        if let Some(&id) = self.interner.get(name) {
            return Ok(id);
        }
        if self.transports.len() >= MAX_TRANSPORTS {
            return Err(CoreError::invalid(
                "transport",
                format!("at most {MAX_TRANSPORTS} distinct transports can be tracked"),
            ));
        }
        let id = self.transports.len() as u16;
        self.transports.push((name.into(), self.cfg.default_prior));
        self.interner.insert(name.into(), id);
        Ok(id)
    }

    #[inline]
    fn decay(&self, from_ms: u64, now_ms: u64) -> f64 {
        if now_ms <= from_ms {
            1.0
        } else {
            (-((now_ms - from_ms) as f64) * self.inv_half_life).exp2()
        }
    }

    #[inline]
    fn reliability(&self, prior: f64, s: f64, f: f64) -> f64 {
        let w = self.cfg.prior_weight;
        (prior * w + s) / (w + s + f)
    }

    #[inline]
    fn score_from(&self, reliability: f64, srtt: f64) -> f64 {
        let latency = if srtt.is_nan() {
            self.cfg.default_rtt_ms
        } else {
            srtt
        };
        reliability / (1.0 + latency / self.cfg.latency_scale_ms)
    }

    /// (reliability, score) of a pair with stats `st` at `now_ms`.
    #[inline]
    fn eval(&self, st: &PairStats, now_ms: u64) -> (f64, f64) {
        let d = self.decay(st.last_ms, now_ms);
        let prior = self.transports[usize::from(st.transport)].1;
        let r = self.reliability(prior, st.successes * d, st.failures * d);
        (r, self.score_from(r, st.srtt))
    }

    #[inline]
    fn prior_score(&self, prior: f64) -> f64 {
        self.score_from(prior, f64::NAN)
    }

    #[inline]
    fn entry(&self, peer: &str) -> Option<&PeerEntry> {
        let slot = *self.index.get(peer)?;
        self.slots[slot as usize].as_ref()
    }

    #[inline]
    fn pair(entry: Option<&PeerEntry>, id: Option<u16>) -> Option<&PairStats> {
        let id = id?;
        entry?.pairs.iter().find(|p| p.transport == id)
    }

    /// Score of one transport of a peer, given the peer entry (if any).
    #[inline]
    fn score_in(&self, entry: Option<&PeerEntry>, transport: &str, now_ms: u64) -> f64 {
        let id = self.interner.get(transport).copied();
        match Self::pair(entry, id) {
            Some(st) => self.eval(st, now_ms).1,
            None => self.prior_score(id.map_or(self.cfg.default_prior, |id| {
                self.transports[usize::from(id)].1
            })),
        }
    }

    /// Records one delivery attempt. `rtt_ms` (when `ok` and known) feeds the
    /// RFC 6298 estimator; the RTT of a failed attempt is validated but ignored.
    /// Observing a peer makes it the most recently observed; a new peer beyond
    /// `max_peers` evicts the least recently observed one. An observation older
    /// than the pair's latest is counted at the pair's latest time.
    pub fn observe(
        &mut self,
        peer: &str,
        transport: &str,
        ok: bool,
        rtt_ms: Option<f64>,
        now_ms: u64,
    ) -> CoreResult<()> {
        if peer.is_empty() {
            return Err(CoreError::invalid("peer", "must be non-empty"));
        }
        if transport.is_empty() {
            return Err(CoreError::invalid("transport", "must be non-empty"));
        }
        if let Some(r) = rtt_ms
            && !(r.is_finite() && r >= 0.0)
        {
            return Err(CoreError::invalid(
                "rtt_ms",
                format!("must be finite and >= 0, got {r}"),
            ));
        }
        let id = self.intern(transport)?;
        let slot = self.peer_slot(peer);
        let inv = self.inv_half_life;
        let max_evidence = self.cfg.max_evidence;
        let Some(entry) = self.slots[slot as usize].as_mut() else {
            return Err(CoreError::invalid("peer", "internal slot error"));
        };
        let pos = if let Some(pos) = entry.pairs.iter().position(|p| p.transport == id) {
            pos
        } else {
            entry.pairs.push(PairStats {
                transport: id,
                successes: 0.0,
                failures: 0.0,
                srtt: f64::NAN,
                rttvar: f64::NAN,
                observations: 0,
                last_ms: now_ms,
            });
            self.pairs += 1;
            entry.pairs.len() - 1
        };
        let st = &mut entry.pairs[pos];
        if now_ms > st.last_ms {
            let d = (-((now_ms - st.last_ms) as f64) * inv).exp2();
            st.successes *= d;
            st.failures *= d;
            st.last_ms = now_ms;
        }
        st.observations += 1;
        if ok {
            st.successes += 1.0;
            if let Some(r) = rtt_ms {
                if st.srtt.is_nan() {
                    st.srtt = r;
                    st.rttvar = r / 2.0;
                } else {
                    st.rttvar = (1.0 - RTT_BETA) * st.rttvar + RTT_BETA * (st.srtt - r).abs();
                    st.srtt = (1.0 - RTT_ALPHA) * st.srtt + RTT_ALPHA * r;
                }
            }
        } else {
            st.failures += 1.0;
        }
        let total = st.successes + st.failures;
        if total > max_evidence {
            let k = max_evidence / total;
            st.successes *= k;
            st.failures *= k;
        }
        Ok(())
    }

    /// The slot of `peer`, created (evicting if full) and moved to the front.
    fn peer_slot(&mut self, peer: &str) -> u32 {
        if let Some(&slot) = self.index.get(peer) {
            if self.head != slot {
                self.unlink(slot);
                self.push_front(slot);
            }
            return slot;
        }
        if self.index.len() >= self.cfg.max_peers && self.tail != NIL {
            let victim = self.tail;
            self.remove_slot(victim);
            self.evictions += 1;
        }
        let entry = PeerEntry {
            name: peer.into(),
            pairs: Vec::new(),
            prev: NIL,
            next: NIL,
        };
        let slot = if let Some(slot) = self.free.pop() {
            self.slots[slot as usize] = Some(entry);
            slot
        } else {
            self.slots.push(Some(entry));
            (self.slots.len() - 1) as u32
        };
        self.index.insert(peer.into(), slot);
        self.push_front(slot);
        slot
    }

    fn links(&mut self, slot: u32) -> Option<&mut PeerEntry> {
        self.slots.get_mut(slot as usize).and_then(Option::as_mut)
    }

    fn unlink(&mut self, slot: u32) {
        let (prev, next) = match self.links(slot) {
            Some(e) => (e.prev, e.next),
            None => return,
        };
        match self.links(prev) {
            Some(p) => p.next = next,
            None => self.head = next,
        }
        match self.links(next) {
            Some(n) => n.prev = prev,
            None => self.tail = prev,
        }
        if let Some(e) = self.links(slot) {
            e.prev = NIL;
            e.next = NIL;
        }
    }

    fn push_front(&mut self, slot: u32) {
        let old = self.head;
        if let Some(e) = self.links(slot) {
            e.prev = NIL;
            e.next = old;
        }
        match self.links(old) {
            Some(o) => o.prev = slot,
            None => self.tail = slot,
        }
        self.head = slot;
    }

    fn remove_slot(&mut self, slot: u32) {
        self.unlink(slot);
        if let Some(entry) = self.slots[slot as usize].take() {
            self.pairs -= entry.pairs.len();
            self.index.remove(&entry.name);
            self.free.push(slot);
        }
    }

    /// Forgets everything about `peer`; `false` if it was not tracked.
    pub fn forget(&mut self, peer: &str) -> bool {
        match self.index.get(peer) {
            Some(&slot) => {
                self.remove_slot(slot);
                true
            }
            None => false,
        }
    }

    /// The score of `transport` for `peer` at `now_ms` (the prior-based score for
    /// an unknown pair). Pure.
    pub fn score(&self, peer: &str, transport: &str, now_ms: u64) -> f64 {
        self.score_in(self.entry(peer), transport, now_ms)
    }

    /// The retransmission timeout of (peer, transport), RFC 6298 section 2:
    /// `srtt + 4 * rttvar` clamped to `[floor_ms, ceil_ms]`, or `ceil_ms` for
    /// a pair without an RTT sample (the first attempt waits the full bound).
    /// A `floor_ms` above `ceil_ms` is lowered to it.
    pub fn rto_ms(&self, peer: &str, transport: &str, floor_ms: f64, ceil_ms: f64) -> f64 {
        let ceil = ceil_ms.max(0.0);
        let floor = floor_ms.clamp(0.0, ceil);
        let id = self.interner.get(transport).copied();
        match Self::pair(self.entry(peer), id) {
            Some(st) if !st.srtt.is_nan() => (st.srtt + RTO_K * st.rttvar).clamp(floor, ceil),
            _ => ceil,
        }
    }

    /// Ranks `transports` for `peer` into `out` (cleared first): best score first,
    /// equal scores in the caller's order; transports refused by `allow` are left
    /// out. Pure: no exploration, no state change.
    pub fn rank_into<S: AsRef<str>>(
        &self,
        peer: &str,
        transports: &[S],
        now_ms: u64,
        mut allow: impl FnMut(&str) -> bool,
        out: &mut Vec<Ranked>,
    ) {
        out.clear();
        let entry = self.entry(peer);
        for (index, t) in transports.iter().enumerate() {
            let t = t.as_ref();
            if allow(t) {
                out.push(Ranked {
                    index,
                    score: self.score_in(entry, t, now_ms),
                });
            }
        }
        sort_ranked(out);
    }

    /// [`Router::rank_into`] returning a new vector.
    pub fn rank<S: AsRef<str>>(
        &self,
        peer: &str,
        transports: &[S],
        now_ms: u64,
        allow: impl FnMut(&str) -> bool,
    ) -> Vec<Ranked> {
        let mut out = Vec::with_capacity(transports.len());
        self.rank_into(peer, transports, now_ms, allow, &mut out);
        out
    }

    /// Ranks `transports` for every peer into row-major `order` / `scores`
    /// (`peers.len() × transports.len()`): `order[i, j]` is the index of the
    /// j-th best transport of peer i, `-1` (score `NaN`) for refused ones, which
    /// fill the end of the row. Same order as [`Router::rank_into`].
    pub fn rank_many_into<P: AsRef<str>, S: AsRef<str>>(
        &self,
        peers: &[P],
        transports: &[S],
        now_ms: u64,
        mut allow: impl FnMut(&str, &str) -> bool,
        order: &mut [i32],
        scores: &mut [f64],
    ) -> CoreResult<()> {
        let m = transports.len();
        let cells = peers.len().checked_mul(m);
        if cells != Some(order.len()) || cells != Some(scores.len()) {
            return Err(CoreError::invalid(
                "order",
                "output length must be peers × transports",
            ));
        }
        if i32::try_from(m).is_err() {
            return Err(CoreError::invalid("transports", "too many transports"));
        }
        let ids: Vec<Option<u16>> = transports
            .iter()
            .map(|t| self.interner.get(t.as_ref()).copied())
            .collect();
        let priors: Vec<f64> = ids
            .iter()
            .map(|id| {
                self.prior_score(id.map_or(self.cfg.default_prior, |id| {
                    self.transports[usize::from(id)].1
                }))
            })
            .collect();
        let mut row: Vec<Ranked> = Vec::with_capacity(m);
        for (i, peer) in peers.iter().enumerate() {
            let peer = peer.as_ref();
            let entry = self.entry(peer);
            row.clear();
            for (j, t) in transports.iter().enumerate() {
                if !allow(peer, t.as_ref()) {
                    continue;
                }
                let score = match Self::pair(entry, ids[j]) {
                    Some(st) => self.eval(st, now_ms).1,
                    None => priors[j],
                };
                row.push(Ranked { index: j, score });
            }
            sort_ranked(&mut row);
            let o = &mut order[i * m..(i + 1) * m];
            let s = &mut scores[i * m..(i + 1) * m];
            for k in 0..m {
                if let Some(r) = row.get(k) {
                    o[k] = r.index as i32;
                    s[k] = r.score;
                } else {
                    o[k] = -1;
                    s[k] = f64::NAN;
                }
            }
        }
        Ok(())
    }

    /// Decides a send to `peer` over `transports` (see the module docs and
    /// docs/routing.md for the policy). Advances the exploration generator.
    pub fn plan<S: AsRef<str>>(
        &mut self,
        peer: &str,
        transports: &[S],
        now_ms: u64,
        max_parallel: usize,
        allow: impl FnMut(&str) -> bool,
    ) -> CoreResult<Plan> {
        if max_parallel == 0 {
            return Err(CoreError::invalid("max_parallel", "must be >= 1"));
        }
        let mut ranked = std::mem::take(&mut self.scratch);
        self.rank_into(peer, transports, now_ms, allow, &mut ranked);
        let mut plan = Plan::default();
        if ranked.is_empty() {
            self.scratch = ranked;
            return Ok(plan);
        }
        let explore = ranked.len() >= 2
            && self.cfg.exploration > 0.0
            && self.rng.next_f64() < self.cfg.exploration;
        let entry = self.entry(peer);
        let stats_of = |index: usize| -> Option<&PairStats> {
            Self::pair(
                entry,
                self.interner.get(transports[index].as_ref()).copied(),
            )
        };
        if explore {
            // Promote the least recently observed non-best transport (never
            // observed counts as oldest; ties go to the better ranked).
            let mut pick = 1;
            let mut oldest: Option<u64> = stats_of(ranked[1].index).map(|s| s.last_ms);
            for (k, r) in ranked.iter().enumerate().skip(2) {
                let last = stats_of(r.index).map(|s| s.last_ms);
                let older = match (last, oldest) {
                    (_, None) => false,
                    (None, Some(_)) => true,
                    (Some(a), Some(b)) => a < b,
                };
                if older {
                    pick = k;
                    oldest = last;
                }
            }
            let promoted = ranked.remove(pick);
            ranked.insert(0, promoted);
            plan.explored = true;
        }
        let k = max_parallel.min(ranked.len());
        let primary =
            stats_of(ranked[0].index).map(|st| (self.eval(st, now_ms).0, st.srtt, st.rttvar));
        match primary {
            Some((r, srtt, rttvar)) if !srtt.is_nan() && r >= self.cfg.parallel_below => {
                plan.now.push(ranked[0].index);
                let raw = (srtt + self.cfg.hedge_k * rttvar).ceil();
                let base = (raw as u64).clamp(self.cfg.min_hedge_ms, self.cfg.max_hedge_ms);
                for (i, r) in ranked[1..k].iter().enumerate() {
                    plan.hedges
                        .push((r.index, base.saturating_mul(i as u64 + 1)));
                }
            }
            _ => plan.now.extend(ranked[..k].iter().map(|r| r.index)),
        }
        plan.fallbacks.extend(ranked[k..].iter().map(|r| r.index));
        self.scratch = ranked;
        Ok(plan)
    }

    fn stats_view(&self, entry: &PeerEntry, st: &PairStats, now_ms: Option<u64>) -> RouteStats {
        let d = now_ms.map_or(1.0, |now| self.decay(st.last_ms, now));
        let (s, f) = (st.successes * d, st.failures * d);
        let prior = self.transports[usize::from(st.transport)].1;
        let known = !st.srtt.is_nan();
        RouteStats {
            peer: entry.name.to_string(),
            transport: self.transports[usize::from(st.transport)].0.to_string(),
            reliability: self.reliability(prior, s, f),
            successes: s,
            failures: f,
            srtt_ms: known.then_some(st.srtt),
            rttvar_ms: known.then_some(st.rttvar),
            observations: st.observations,
            last_observed_ms: st.last_ms,
        }
    }

    /// The estimates of `peer` (or of every peer, most recently observed first),
    /// transports in first-observed order. Counts are decayed to `now_ms` when
    /// given, else reported as of each pair's latest observation.
    pub fn snapshot(&self, peer: Option<&str>, now_ms: Option<u64>) -> Vec<RouteStats> {
        let mut out = Vec::new();
        let mut push = |entry: &PeerEntry| {
            for st in &entry.pairs {
                out.push(self.stats_view(entry, st, now_ms));
            }
        };
        if let Some(p) = peer {
            if let Some(entry) = self.entry(p) {
                push(entry);
            }
        } else {
            let mut slot = self.head;
            while let Some(entry) = self.slots.get(slot as usize).and_then(Option::as_ref) {
                push(entry);
                slot = entry.next;
            }
        }
        out
    }
}

/// Best score first; equal scores by ascending index (the caller's order).
/// Insertion sort: rows are a handful of transports.
#[inline]
fn sort_ranked(v: &mut [Ranked]) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && better(&v[j], &v[j - 1]) {
            v.swap(j, j - 1);
            j -= 1;
        }
    }
}

#[inline]
fn better(a: &Ranked, b: &Ranked) -> bool {
    match a.score.total_cmp(&b.score) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Equal => a.index < b.index,
        std::cmp::Ordering::Less => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::float_cmp)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn router() -> Router {
        Router::new(RouterConfig::default()).unwrap()
    }

    fn all(_: &str) -> bool {
        true
    }

    const T3: [&str; 3] = ["integrated", "gun", "peerjs"];

    #[test]
    fn defaults_and_merge() {
        let r = router();
        assert_eq!(r.prior_of("integrated"), 1.0);
        assert_eq!(r.prior_of("gun"), 0.8);
        assert_eq!(r.prior_of("peerjs"), 0.6);
        assert_eq!(r.prior_of("webtorrent"), 0.5);
        let cfg = RouterConfig {
            priors: vec![("gun".into(), 0.1), ("ws".into(), 0.9)],
            default_prior: 0.3,
            ..RouterConfig::default()
        };
        let r = Router::new(cfg).unwrap();
        assert_eq!(r.prior_of("gun"), 0.1);
        assert_eq!(r.prior_of("ws"), 0.9);
        assert_eq!(r.prior_of("other"), 0.3);
        assert_eq!(
            r.priors(),
            vec![
                ("integrated", 1.0),
                ("gun", 0.1),
                ("peerjs", 0.6),
                ("ws", 0.9)
            ]
        );
    }

    #[test]
    fn validation_names_the_field() {
        let cases: Vec<(RouterConfig, &str)> = vec![
            (
                RouterConfig {
                    priors: vec![("x".into(), 1.5)],
                    ..Default::default()
                },
                "priors",
            ),
            (
                RouterConfig {
                    priors: vec![(String::new(), 0.5)],
                    ..Default::default()
                },
                "priors",
            ),
            (
                RouterConfig {
                    default_prior: f64::NAN,
                    ..Default::default()
                },
                "default_prior",
            ),
            (
                RouterConfig {
                    prior_weight: 0.0,
                    ..Default::default()
                },
                "prior_weight",
            ),
            (
                RouterConfig {
                    half_life_ms: 0,
                    ..Default::default()
                },
                "half_life_ms",
            ),
            (
                RouterConfig {
                    max_evidence: 0.0,
                    ..Default::default()
                },
                "max_evidence",
            ),
            (
                RouterConfig {
                    exploration: 1.1,
                    ..Default::default()
                },
                "exploration",
            ),
            (
                RouterConfig {
                    max_peers: 0,
                    ..Default::default()
                },
                "max_peers",
            ),
            (
                RouterConfig {
                    latency_scale_ms: 0.0,
                    ..Default::default()
                },
                "latency_scale_ms",
            ),
            (
                RouterConfig {
                    default_rtt_ms: -1.0,
                    ..Default::default()
                },
                "default_rtt_ms",
            ),
            (
                RouterConfig {
                    hedge_k: f64::INFINITY,
                    ..Default::default()
                },
                "hedge_k",
            ),
            (
                RouterConfig {
                    min_hedge_ms: 5,
                    max_hedge_ms: 4,
                    ..Default::default()
                },
                "max_hedge_ms",
            ),
            (
                RouterConfig {
                    parallel_below: -0.1,
                    ..Default::default()
                },
                "parallel_below",
            ),
        ];
        for (cfg, arg) in cases {
            match Router::new(cfg) {
                Err(CoreError::InvalidArgument { arg: a, .. }) => assert_eq!(a, arg),
                other => panic!("{arg}: {other:?}"),
            }
        }
    }

    #[test]
    fn observe_validation() {
        let mut r = router();
        for (p, t, rtt, arg) in [
            ("", "gun", None, "peer"),
            ("a", "", None, "transport"),
            ("a", "gun", Some(-1.0), "rtt_ms"),
            ("a", "gun", Some(f64::NAN), "rtt_ms"),
        ] {
            match r.observe(p, t, true, rtt, 0) {
                Err(CoreError::InvalidArgument { arg: a, .. }) => assert_eq!(a, arg),
                other => panic!("{arg}: {other:?}"),
            }
        }
        assert!(r.is_empty());
    }

    #[test]
    fn unknown_pair_scores_its_prior() {
        let r = router();
        let expect = 0.8 / (1.0 + 100.0 / 1000.0);
        assert!((r.score("p", "gun", 0) - expect).abs() < 1e-12);
        let ranked = r.rank("p", &["peerjs", "other", "integrated", "gun"], 0, all);
        let idx: Vec<usize> = ranked.iter().map(|x| x.index).collect();
        assert_eq!(idx, vec![2, 3, 0, 1]);
    }

    #[test]
    fn beta_posterior_and_decay_to_prior() {
        let mut r = router();
        for _ in 0..8 {
            r.observe("p", "gun", false, None, 1_000).unwrap();
        }
        let s = &r.snapshot(Some("p"), None)[0];
        assert!((s.reliability - (0.8 * 2.0) / 10.0).abs() < 1e-12);
        // one half-life later the counts halve
        let s = &r.snapshot(Some("p"), Some(61_000))[0];
        assert!((s.failures - 4.0).abs() < 1e-9);
        assert!((s.reliability - 1.6 / 6.0).abs() < 1e-9);
        // far in the future, back to the prior
        let far = r.snapshot(Some("p"), Some(1_000 + 60_000 * 60))[0].reliability;
        assert!((far - 0.8).abs() < 1e-6);
    }

    #[test]
    fn evidence_is_capped() {
        let cfg = RouterConfig {
            max_evidence: 10.0,
            ..Default::default()
        };
        let mut r = Router::new(cfg).unwrap();
        for _ in 0..100 {
            r.observe("p", "gun", true, None, 0).unwrap();
        }
        let s = &r.snapshot(Some("p"), None)[0];
        assert!((s.successes - 10.0).abs() < 1e-9);
        for _ in 0..10 {
            r.observe("p", "gun", false, None, 0).unwrap();
        }
        let s = &r.snapshot(Some("p"), None)[0];
        assert!((s.successes + s.failures - 10.0).abs() < 1e-9);
        // after 10 failures: successes = 10 * (10/11)^10
        assert!((s.successes - 10.0 * (10.0f64 / 11.0).powi(10)).abs() < 1e-9);
    }

    #[test]
    fn rtt_follows_rfc6298() {
        let mut r = router();
        let samples = [100.0, 120.0, 80.0, 300.0, 90.0];
        let (mut srtt, mut var) = (f64::NAN, f64::NAN);
        for (i, x) in samples.iter().enumerate() {
            r.observe("p", "gun", true, Some(*x), i as u64).unwrap();
            if i == 0 {
                srtt = *x;
                var = x / 2.0;
            } else {
                var = 0.75 * var + 0.25 * (srtt - x).abs();
                srtt = 0.875 * srtt + 0.125 * x;
            }
        }
        let s = &r.snapshot(Some("p"), None)[0];
        assert!((s.srtt_ms.unwrap() - srtt).abs() < 1e-9);
        assert!((s.rttvar_ms.unwrap() - var).abs() < 1e-9);
        // a failure leaves the RTT alone
        r.observe("p", "gun", false, Some(5.0), 10).unwrap();
        assert!((r.snapshot(Some("p"), None)[0].srtt_ms.unwrap() - srtt).abs() < 1e-9);
    }

    #[test]
    fn rank_is_pure_and_filters() {
        let mut r = router();
        r.observe("p", "integrated", false, None, 0).unwrap();
        r.observe("p", "integrated", false, None, 0).unwrap();
        let a = r.rank("p", &T3, 5, all);
        let b = r.rank("p", &T3, 5, all);
        assert_eq!(a, b);
        assert_eq!(a[0].index, 1);
        let f = r.rank("p", &T3, 5, |t| t != "gun");
        assert_eq!(f.iter().map(|x| x.index).collect::<Vec<_>>(), vec![2, 0]);
    }

    #[test]
    fn plan_parallel_when_unknown_and_hedge_when_known() {
        let mut cfg = RouterConfig {
            exploration: 0.0,
            ..Default::default()
        };
        cfg.priors.push(("gun".into(), 0.8));
        let mut r = Router::new(cfg).unwrap();
        let p = r.plan("p", &T3, 0, 2, all).unwrap();
        assert_eq!(
            p,
            Plan {
                now: vec![0, 1],
                hedges: vec![],
                fallbacks: vec![2],
                explored: false
            }
        );
        r.observe("p", "integrated", true, Some(100.0), 0).unwrap();
        // srtt 100, rttvar 50 -> 100 + 2*50 = 200
        let p = r.plan("p", &T3, 0, 3, all).unwrap();
        assert_eq!(
            p,
            Plan {
                now: vec![0],
                hedges: vec![(1, 200), (2, 400)],
                fallbacks: vec![],
                explored: false
            }
        );
        let p = r.plan("p", &T3, 0, 1, all).unwrap();
        assert_eq!(
            p,
            Plan {
                now: vec![0],
                hedges: vec![],
                fallbacks: vec![1, 2],
                explored: false
            }
        );
        assert!(r.plan("p", &T3, 0, 0, all).is_err());
        let p = r.plan("p", &T3, 0, 2, |_| false).unwrap();
        assert_eq!(p, Plan::default());
    }

    #[test]
    fn rto_follows_rfc_6298_and_is_clamped() {
        let mut r = router();
        // No sample: the ceiling.
        assert!((r.rto_ms("p", "a", 100.0, 5_000.0) - 5_000.0).abs() < 1e-9);
        // One sample R: srtt = R, rttvar = R / 2, so srtt + 4 rttvar = 3R.
        r.observe("p", "a", true, Some(200.0), 1).unwrap();
        assert!((r.rto_ms("p", "a", 100.0, 5_000.0) - 600.0).abs() < 1e-9);
        assert!((r.rto_ms("p", "a", 700.0, 5_000.0) - 700.0).abs() < 1e-9);
        assert!((r.rto_ms("p", "a", 100.0, 500.0) - 500.0).abs() < 1e-9);
        // A floor above the ceiling is lowered to it; unknown transports get the ceiling.
        assert!((r.rto_ms("p", "a", 9_000.0, 500.0) - 500.0).abs() < 1e-9);
        assert!((r.rto_ms("p", "zz", 100.0, 800.0) - 800.0).abs() < 1e-9);
        // Steady samples shrink rttvar, and the timeout towards srtt.
        for i in 0..50 {
            r.observe("p", "a", true, Some(200.0), 2 + i).unwrap();
        }
        let rto = r.rto_ms("p", "a", 1.0, 5_000.0);
        assert!(rto > 200.0 && rto < 210.0, "{rto}");
    }

    #[test]
    fn hedge_delay_is_clamped() {
        let cfg = RouterConfig {
            exploration: 0.0,
            min_hedge_ms: 50,
            max_hedge_ms: 150,
            ..Default::default()
        };
        let mut r = Router::new(cfg).unwrap();
        r.observe("p", "integrated", true, Some(1.0), 0).unwrap();
        assert_eq!(r.plan("p", &T3, 0, 2, all).unwrap().hedges, vec![(1, 50)]);
        r.observe("q", "integrated", true, Some(300.0), 0).unwrap();
        assert_eq!(r.plan("q", &T3, 0, 2, all).unwrap().hedges, vec![(1, 150)]);
    }

    #[test]
    fn exploration_is_seeded_and_prefers_least_recent() {
        let cfg = RouterConfig {
            exploration: 0.5,
            seed: 9,
            ..Default::default()
        };
        let run = |cfg: RouterConfig| {
            let mut r = Router::new(cfg).unwrap();
            r.observe("p", "integrated", true, Some(10.0), 0).unwrap();
            r.observe("p", "peerjs", true, Some(10.0), 5).unwrap();
            (0..200)
                .map(|_| r.plan("p", &T3, 10, 1, all).unwrap())
                .collect::<Vec<_>>()
        };
        let a = run(cfg.clone());
        assert_eq!(a, run(cfg.clone()));
        let explored: Vec<&Plan> = a.iter().filter(|p| p.explored).collect();
        assert!(
            explored.len() > 50 && explored.len() < 150,
            "{}",
            explored.len()
        );
        // gun (index 1) was never observed: it is the one promoted
        assert!(explored.iter().all(|p| p.now == vec![1]));
        assert!(a.iter().filter(|p| !p.explored).all(|p| p.now == vec![0]));
        let b = run(RouterConfig { seed: 10, ..cfg });
        assert_ne!(a, b);
    }

    #[test]
    fn eviction_is_lru_by_observation() {
        let cfg = RouterConfig {
            max_peers: 3,
            ..Default::default()
        };
        let mut r = Router::new(cfg).unwrap();
        for (i, p) in ["a", "b", "c"].iter().enumerate() {
            r.observe(p, "gun", true, None, i as u64).unwrap();
        }
        r.observe("a", "gun", true, None, 10).unwrap();
        r.observe("d", "gun", true, None, 11).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r.evictions(), 1);
        assert!(r.snapshot(Some("b"), None).is_empty());
        let order: Vec<String> = r.snapshot(None, None).into_iter().map(|s| s.peer).collect();
        assert_eq!(order, vec!["d", "a", "c"]);
        assert!(r.forget("c"));
        assert!(!r.forget("c"));
        assert_eq!(r.len(), 2);
        assert_eq!(r.pair_count(), 2);
        r.observe("e", "gun", true, None, 12).unwrap();
        r.observe("f", "peerjs", true, None, 13).unwrap();
        let order: Vec<String> = r.snapshot(None, None).into_iter().map(|s| s.peer).collect();
        assert_eq!(order, vec!["f", "e", "d"]);
    }

    #[test]
    fn transports_are_bounded() {
        let mut r = router();
        for i in 0..(MAX_TRANSPORTS - 3) {
            r.observe("p", &format!("t{i}"), true, None, 0).unwrap();
        }
        assert!(r.observe("p", "one-too-many", true, None, 0).is_err());
        assert!(r.observe("p", "t5", true, None, 0).is_ok());
    }

    #[test]
    fn rank_many_shape_checked() {
        let r = router();
        let mut o = vec![0; 5];
        let mut s = vec![0.0; 6];
        assert!(
            r.rank_many_into(&["a", "b"], &T3, 0, |_, _| true, &mut o, &mut s)
                .is_err()
        );
    }

    #[derive(Debug, Clone)]
    enum Op {
        Observe {
            peer: u8,
            t: u8,
            ok: bool,
            rtt: Option<u16>,
            dt: u16,
        },
        Forget(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            9 => (0u8..12, 0u8..4, any::<bool>(), proptest::option::of(0u16..2000), 0u16..5000)
                .prop_map(|(peer, t, ok, rtt, dt)| Op::Observe { peer, t, ok, rtt, dt }),
            1 => (0u8..12).prop_map(Op::Forget),
        ]
    }

    const T4: [&str; 4] = ["integrated", "gun", "peerjs", "ws"];

    proptest! {
        #[test]
        fn invariants_hold(ops in proptest::collection::vec(op(), 1..200)) {
            let cfg = RouterConfig { max_peers: 5, ..Default::default() };
            let mut r = Router::new(cfg).unwrap();
            let mut now = 0u64;
            let peers: Vec<String> = (0..12).map(|i| format!("peer-{i}")).collect();
            for op in ops {
                match op {
                    Op::Observe { peer, t, ok, rtt, dt } => {
                        now += u64::from(dt);
                        r.observe(&peers[peer as usize], T4[t as usize], ok, rtt.map(f64::from), now).unwrap();
                    }
                    Op::Forget(p) => { r.forget(&peers[p as usize]); }
                }
                prop_assert!(r.len() <= 5);
                let snap = r.snapshot(None, Some(now));
                prop_assert_eq!(snap.len(), r.pair_count());
                for s in &snap {
                    prop_assert!((0.0..=1.0).contains(&s.reliability));
                    prop_assert!(s.successes >= 0.0 && s.failures >= 0.0);
                }
            }
            // rank is sorted, a permutation, and agrees with rank_many and score
            let mut order = vec![0i32; peers.len() * 4];
            let mut scores = vec![0.0; peers.len() * 4];
            let refuse = |p: &str, t: &str| !(p == "peer-3" && t == "gun");
            r.rank_many_into(&peers, &T4, now, refuse, &mut order, &mut scores).unwrap();
            for (i, p) in peers.iter().enumerate() {
                let ranked = r.rank(p, &T4, now, |t| refuse(p, t));
                for w in ranked.windows(2) {
                    prop_assert!(w[0].score >= w[1].score);
                }
                for (k, x) in ranked.iter().enumerate() {
                    prop_assert_eq!(order[i * 4 + k], x.index as i32);
                    prop_assert_eq!(scores[i * 4 + k].to_bits(), x.score.to_bits());
                    prop_assert_eq!(x.score.to_bits(), r.score(p, T4[x.index], now).to_bits());
                }
                for k in ranked.len()..4 {
                    prop_assert_eq!(order[i * 4 + k], -1);
                    prop_assert!(scores[i * 4 + k].is_nan());
                }
            }
        }

        #[test]
        fn counts_decay_monotonically_toward_prior(fails in 1u32..50, dt in 1u64..1_000_000) {
            let mut r = router();
            for _ in 0..fails {
                r.observe("p", "gun", false, None, 0).unwrap();
            }
            let a = r.snapshot(Some("p"), Some(dt))[0].reliability;
            let b = r.snapshot(Some("p"), Some(dt * 2))[0].reliability;
            prop_assert!(a <= b && b <= 0.8 + 1e-12);
        }
    }
}
