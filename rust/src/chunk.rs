//! Chunking of frames larger than a transport's frame limit, and their bounded
//! reassembly (sans-I/O: time comes in as `now_ms`).
//!
//! A chunk frame is laid out as follows, integers little-endian:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | frame type `0xC1` |
//! | 1 | 1 | version (`1`) |
//! | 2 | 16 | chunk id (shared by the chunks of one frame) |
//! | 18 | 2 | index (u16, `0 <= index < count`) |
//! | 20 | 2 | count (u16, at least 2) |
//! | 22 | 4 | total length of the reassembled frame (u32) |
//! | 26 | rest | data (at least one byte) |
//!
//! [`split`] cuts a frame into chunks of equal size but the last, each at most
//! `max_frame` bytes on the wire. A [`Reassembler`] collects chunks per
//! `(peer, chunk id)` and returns the whole frame once every index has arrived,
//! in any order. It is bounded in every dimension: the number of messages in
//! progress (`max_pending`), the bytes they buffer (`max_bytes`) and the size of
//! one message (`max_message`), and fair between peers: one peer has at most
//! `max_pending_per_peer` messages in progress. A message that does not
//! complete within `timeout_ms` of its first chunk is dropped. When a new
//! message does not fit, messages in progress are evicted (and counted): the
//! peer's own oldest when it is over its share, else the oldest overall; under
//! byte pressure, the oldest of the peer that buffers the most bytes. Duplicate chunks
//! are ignored; a chunk that contradicts the ones before it (another count or
//! total, a size that does not fit) is rejected with a decode error, and the
//! message it belongs to is dropped.

use std::collections::{BTreeMap, HashMap};

use crate::codec::Reader;
use crate::envelope::MAX_ENVELOPE_LEN;
use crate::error::{CoreError, CoreResult, DecodeReason};

/// The first byte of a chunk frame.
pub const FRAME_CHUNK: u8 = 0xC1;
/// The chunk format version this build reads and writes.
pub const CHUNK_VERSION: u8 = 1;
/// Length of a chunk id, in bytes.
pub const CHUNK_ID_LEN: usize = 16;
/// Bytes of a chunk frame before its data.
pub const CHUNK_HEADER_LEN: usize = 2 + CHUNK_ID_LEN + 2 + 2 + 4;
/// The most chunks one frame may be cut into.
pub const MAX_CHUNKS: usize = u16::MAX as usize;

const WHAT: &str = "Chunk";

/// One decoded chunk, borrowing its data from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// The id shared by the chunks of one frame.
    pub chunk_id: [u8; CHUNK_ID_LEN],
    /// This chunk's position.
    pub index: u16,
    /// How many chunks the frame was cut into.
    pub count: u16,
    /// The length of the whole frame.
    pub total_len: u32,
    /// This chunk's bytes of the frame.
    pub data: &'a [u8],
}

impl Chunk<'_> {
    /// The chunk frame.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(CHUNK_HEADER_LEN + self.data.len());
        out.extend_from_slice(&[FRAME_CHUNK, CHUNK_VERSION]);
        out.extend_from_slice(&self.chunk_id);
        out.extend_from_slice(&self.index.to_le_bytes());
        out.extend_from_slice(&self.count.to_le_bytes());
        out.extend_from_slice(&self.total_len.to_le_bytes());
        out.extend_from_slice(self.data);
        out
    }
}

fn inconsistent(detail: impl Into<String>) -> CoreError {
    CoreError::decode(WHAT, DecodeReason::Inconsistent, detail)
}

/// Decodes one chunk frame; checks what one chunk alone can show.
pub fn decode_chunk(frame: &[u8]) -> CoreResult<Chunk<'_>> {
    let mut r = Reader::new(WHAT, frame);
    let t = r.u8("frame type")?;
    if t != FRAME_CHUNK {
        return Err(CoreError::decode(
            WHAT,
            DecodeReason::BadMagic,
            format!("frame type {t:#04x}, a chunk is {FRAME_CHUNK:#04x}"),
        ));
    }
    r.version(CHUNK_VERSION)?;
    let chunk_id = r.array::<CHUNK_ID_LEN>("chunk id")?;
    let index = r.u16("index")?;
    let count = r.u16("count")?;
    let total_len = r.u32("total length")?;
    let data = r.rest();
    if count < 2 {
        return Err(CoreError::decode(
            WHAT,
            DecodeReason::NonCanonical,
            format!("count {count}: a frame that fits is sent whole"),
        ));
    }
    if index >= count {
        return Err(inconsistent(format!("index {index} of {count} chunks")));
    }
    if data.is_empty() {
        return Err(CoreError::decode(
            WHAT,
            DecodeReason::NonCanonical,
            "empty chunk",
        ));
    }
    if (total_len as usize) < usize::from(count) || data.len() > total_len as usize {
        return Err(inconsistent(format!(
            "{} bytes in a chunk of {count} for a frame of {total_len} bytes",
            data.len()
        )));
    }
    Ok(Chunk {
        chunk_id,
        index,
        count,
        total_len,
        data,
    })
}

/// Cuts `frame` into chunk frames of at most `max_frame` bytes each, or returns
/// `[frame]` if it fits. `InvalidArgument` if `max_frame` leaves no room for
/// data or would need more than [`MAX_CHUNKS`] chunks, or the frame is longer
/// than `u32::MAX`.
pub fn split(
    frame: &[u8],
    max_frame: usize,
    chunk_id: [u8; CHUNK_ID_LEN],
) -> CoreResult<Vec<Vec<u8>>> {
    if frame.len() <= max_frame {
        return Ok(vec![frame.to_vec()]);
    }
    if max_frame <= CHUNK_HEADER_LEN {
        return Err(CoreError::invalid(
            "max_frame",
            format!("must exceed the {CHUNK_HEADER_LEN}-byte chunk header, got {max_frame}"),
        ));
    }
    let total_len = u32::try_from(frame.len()).map_err(|_| {
        CoreError::invalid(
            "frame",
            format!(
                "{} bytes cannot be chunked (limit {})",
                frame.len(),
                u32::MAX
            ),
        )
    })?;
    let per = max_frame - CHUNK_HEADER_LEN;
    let count = frame.len().div_ceil(per);
    let count = u16::try_from(count).map_err(|_| {
        CoreError::invalid(
            "max_frame",
            format!(
                "{max_frame} would cut {} bytes into {count} chunks, at most {MAX_CHUNKS}",
                frame.len()
            ),
        )
    })?;
    Ok(frame
        .chunks(per)
        .enumerate()
        .map(|(i, data)| {
            Chunk {
                chunk_id,
                index: i as u16,
                count,
                total_len,
                data,
            }
            .to_bytes()
        })
        .collect())
}

/// The bounds of a [`Reassembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblerConfig {
    /// Messages in progress at once (at least 1).
    pub max_pending: usize,
    /// Messages in progress at once from one peer (at least 1).
    pub max_pending_per_peer: usize,
    /// Bytes buffered over all messages in progress (at least 1).
    pub max_bytes: usize,
    /// The largest reassembled frame (at least 1; capped by `max_bytes`).
    pub max_message: usize,
    /// A message must complete within this many ms of its first chunk.
    pub timeout_ms: u64,
}

impl Default for ReassemblerConfig {
    fn default() -> Self {
        Self {
            max_pending: 1024,
            max_pending_per_peer: 64,
            max_bytes: 64 << 20,
            max_message: MAX_ENVELOPE_LEN,
            timeout_ms: 30_000,
        }
    }
}

impl ReassemblerConfig {
    /// Checks the bounds: `InvalidArgument` naming the first bad one.
    pub fn validate(&self) -> CoreResult<()> {
        for (arg, v) in [
            ("max_pending", self.max_pending),
            ("max_pending_per_peer", self.max_pending_per_peer),
            ("max_bytes", self.max_bytes),
            ("max_message", self.max_message),
        ] {
            if v == 0 {
                return Err(CoreError::invalid(arg, "must be >= 1"));
            }
        }
        if self.timeout_ms == 0 {
            return Err(CoreError::invalid("timeout_ms", "must be >= 1"));
        }
        Ok(())
    }
}

/// Counters and gauges of a [`Reassembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReassemblerStats {
    /// Messages in progress.
    pub pending: u64,
    /// Bytes they buffer.
    pub bytes: u64,
    /// Messages reassembled.
    pub completed: u64,
    /// Messages dropped because they did not complete in time.
    pub expired: u64,
    /// Messages dropped to make room for newer ones.
    pub evicted: u64,
    /// Chunks rejected as malformed, inconsistent or over a limit.
    pub rejected: u64,
    /// Chunks ignored because their index had already arrived.
    pub duplicates: u64,
}

type Key = (String, [u8; CHUNK_ID_LEN]);

#[derive(Debug)]
struct Pending {
    seq: u64,
    started_ms: u64,
    count: u16,
    total_len: u32,
    /// The length of every chunk but the last, once one of them has arrived.
    chunk_len: Option<usize>,
    /// The length of the last chunk, once it has arrived.
    last_len: Option<usize>,
    pieces: BTreeMap<u16, Vec<u8>>,
    buffered: usize,
}

impl Pending {
    fn new(seq: u64, started_ms: u64, c: &Chunk<'_>) -> Self {
        Self {
            seq,
            started_ms,
            count: c.count,
            total_len: c.total_len,
            chunk_len: None,
            last_len: None,
            pieces: BTreeMap::new(),
            buffered: 0,
        }
    }

    /// Whether `c` fits with the chunks before it (sizes only; `count` and
    /// `total_len` are compared by the caller).
    fn admit(&mut self, c: &Chunk<'_>) -> CoreResult<()> {
        let total = self.total_len as usize;
        let others = usize::from(self.count) - 1;
        let len = c.data.len();
        if c.index == self.count - 1 {
            if let Some(l) = self.chunk_len {
                if len != total - others * l {
                    return Err(inconsistent(format!(
                        "last chunk of {len} bytes, expected {}",
                        total - others * l
                    )));
                }
            } else if len > total - others {
                return Err(inconsistent(format!(
                    "last chunk of {len} bytes leaves less than a byte per other chunk"
                )));
            }
            self.last_len = Some(len);
        } else {
            match self.chunk_len {
                Some(l) if l != len => {
                    return Err(inconsistent(format!(
                        "chunk {} of {len} bytes, the others have {l}",
                        c.index
                    )));
                }
                Some(_) => {}
                None => {
                    // The others have `len` bytes, the last between 1 and `len`.
                    let before_last = others * len;
                    if before_last >= total || total > before_last + len {
                        return Err(inconsistent(format!(
                            "{} chunks of {len} bytes cannot make {total} bytes",
                            self.count
                        )));
                    }
                    if let Some(last) = self.last_len {
                        if last != total - before_last {
                            return Err(inconsistent(format!(
                                "last chunk of {last} bytes, expected {}",
                                total - before_last
                            )));
                        }
                    }
                    self.chunk_len = Some(len);
                }
            }
        }
        Ok(())
    }
}

/// Collects chunks into whole frames, within fixed bounds (see the module
/// documentation). Time never runs backwards: a `now_ms` older than one already
/// seen counts as the latest one seen.
#[derive(Debug)]
pub struct Reassembler {
    config: ReassemblerConfig,
    pending: HashMap<Key, Pending>,
    /// Messages in progress, oldest first.
    order: BTreeMap<u64, Key>,
    next_seq: u64,
    bytes: usize,
    /// Messages in progress and bytes buffered, per peer.
    per_peer: HashMap<String, PeerUse>,
    now_ms: u64,
    stats: ReassemblerStats,
}

#[derive(Debug, Default, Clone, Copy)]
struct PeerUse {
    pending: usize,
    bytes: usize,
}

impl Reassembler {
    /// An empty reassembler; `InvalidArgument` if a bound is zero.
    pub fn new(config: ReassemblerConfig) -> CoreResult<Self> {
        config.validate()?;
        Ok(Self {
            config,
            pending: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            bytes: 0,
            per_peer: HashMap::new(),
            now_ms: 0,
            stats: ReassemblerStats::default(),
        })
    }

    /// The bounds.
    pub fn config(&self) -> ReassemblerConfig {
        self.config
    }

    /// The counters and gauges.
    pub fn stats(&self) -> ReassemblerStats {
        ReassemblerStats {
            pending: self.pending.len() as u64,
            bytes: self.bytes as u64,
            ..self.stats
        }
    }

    fn reject(&mut self, e: CoreError) -> CoreError {
        self.stats.rejected += 1;
        e
    }

    fn remove(&mut self, key: &Key) -> Option<Pending> {
        let p = self.pending.remove(key)?;
        self.order.remove(&p.seq);
        self.bytes -= p.buffered;
        if let Some(u) = self.per_peer.get_mut(&key.0) {
            u.pending -= 1;
            u.bytes -= p.buffered;
            if u.pending == 0 {
                self.per_peer.remove(&key.0);
            }
        }
        Some(p)
    }

    fn evict(&mut self, victim: Option<Key>) -> bool {
        match victim {
            Some(k) => {
                self.remove(&k);
                self.stats.evicted += 1;
                true
            }
            None => false,
        }
    }

    /// The oldest message in progress, from `peer` if given.
    fn oldest_of(&self, peer: Option<&str>) -> Option<Key> {
        self.order
            .values()
            .find(|k| peer.is_none_or(|p| k.0 == p))
            .cloned()
    }

    /// The oldest message other than `keep` of the peer that buffers the most
    /// bytes (among peers with such a message): under byte pressure a peer
    /// that floods the reassembler evicts its own messages first.
    fn heaviest_victim(&self, keep: &Key) -> Option<Key> {
        let mut oldest: HashMap<&str, &Key> = HashMap::new();
        for k in self.order.values() {
            if k != keep {
                oldest.entry(k.0.as_str()).or_insert(k);
            }
        }
        oldest
            .into_iter()
            .max_by_key(|(peer, k)| {
                let used = self.per_peer.get(*peer).map_or(0, |u| u.bytes);
                // Ties go to the older message (smaller seq).
                (
                    used,
                    std::cmp::Reverse(self.pending.get(*k).map_or(0, |p| p.seq)),
                )
            })
            .map(|(_, k)| k.clone())
    }

    /// Adds one chunk frame received from `peer`; returns the whole frame once
    /// its last missing chunk arrives. A malformed chunk, one over a limit or
    /// one inconsistent with the chunks before it is a `Decode` error (and the
    /// message it belongs to, if any, is dropped); a duplicate is ignored.
    pub fn push(&mut self, peer: &str, frame: &[u8], now_ms: u64) -> CoreResult<Option<Vec<u8>>> {
        self.expire(now_ms);
        let c = decode_chunk(frame).map_err(|e| self.reject(e))?;
        let limit = self.config.max_message.min(self.config.max_bytes);
        if c.total_len as usize > limit {
            return Err(self.reject(CoreError::decode(
                WHAT,
                DecodeReason::LengthLimit,
                format!("frame of {} bytes, limit {limit}", c.total_len),
            )));
        }
        let key: Key = (peer.to_owned(), c.chunk_id);
        if let Some(p) = self.pending.get_mut(&key) {
            if (p.count, p.total_len) != (c.count, c.total_len) {
                let detail = format!(
                    "chunk says {} chunks of a {}-byte frame, earlier ones {} of {}",
                    c.count, c.total_len, p.count, p.total_len
                );
                self.remove(&key);
                return Err(self.reject(inconsistent(detail)));
            }
            if p.pieces.contains_key(&c.index) {
                self.stats.duplicates += 1;
                return Ok(None);
            }
            if let Err(e) = p.admit(&c) {
                self.remove(&key);
                return Err(self.reject(e));
            }
        } else {
            let mut p = Pending::new(self.next_seq, self.now_ms, &c);
            p.admit(&c).map_err(|e| self.reject(e))?;
            let own = self.per_peer.get(peer).map_or(0, |u| u.pending);
            if own >= self.config.max_pending_per_peer {
                // A peer over its share makes room among its own messages.
                self.evict(self.oldest_of(Some(peer)));
            } else if self.pending.len() >= self.config.max_pending {
                self.evict(self.oldest_of(None));
            }
            self.next_seq += 1;
            self.order.insert(p.seq, key.clone());
            self.pending.insert(key.clone(), p);
            self.per_peer.entry(peer.to_owned()).or_default().pending += 1;
        }
        // Make room: the message's own total is within max_bytes, so evicting
        // every other message always suffices.
        while self.bytes + c.data.len() > self.config.max_bytes {
            if !self.evict(self.heaviest_victim(&key)) {
                break;
            }
        }
        let Some(p) = self.pending.get_mut(&key) else {
            return Ok(None);
        };
        p.pieces.insert(c.index, c.data.to_vec());
        p.buffered += c.data.len();
        self.bytes += c.data.len();
        if let Some(u) = self.per_peer.get_mut(peer) {
            u.bytes += c.data.len();
        }
        if p.pieces.len() < usize::from(p.count) {
            return Ok(None);
        }
        let Some(p) = self.remove(&key) else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(p.total_len as usize);
        for piece in p.pieces.into_values() {
            out.extend_from_slice(&piece);
        }
        if out.len() != p.total_len as usize {
            // Unreachable by the size checks in `admit`; kept as a guard.
            return Err(self.reject(inconsistent(format!(
                "reassembled {} bytes, expected {}",
                out.len(),
                p.total_len
            ))));
        }
        self.stats.completed += 1;
        Ok(Some(out))
    }

    /// Drops the messages whose first chunk is at least `timeout_ms` old;
    /// returns how many.
    pub fn expire(&mut self, now_ms: u64) -> usize {
        self.now_ms = self.now_ms.max(now_ms);
        let mut n = 0;
        // Messages start in order of `seq` at non-decreasing times, so the
        // expired ones are a prefix of `order`.
        while let Some((_, key)) = self.order.first_key_value() {
            let due = self.pending.get(key).is_some_and(|p| {
                p.started_ms.saturating_add(self.config.timeout_ms) <= self.now_ms
            });
            if !due {
                break;
            }
            let key = key.clone();
            self.remove(&key);
            n += 1;
        }
        self.stats.expired += n as u64;
        n
    }

    /// Drops every message in progress from `peer` (its link went down);
    /// returns how many.
    pub fn forget(&mut self, peer: &str) -> usize {
        let keys: Vec<Key> = self
            .pending
            .keys()
            .filter(|(p, _)| p == peer)
            .cloned()
            .collect();
        for k in &keys {
            self.remove(k);
        }
        keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    fn config() -> ReassemblerConfig {
        ReassemblerConfig {
            max_pending: 4,
            max_pending_per_peer: 4,
            max_bytes: 10_000,
            max_message: 5_000,
            timeout_ms: 1_000,
        }
    }

    fn reason(e: &CoreError) -> DecodeReason {
        match e {
            CoreError::Decode { reason, .. } => *reason,
            CoreError::InvalidArgument { .. } => panic!("expected a decode error, got {e:?}"),
        }
    }

    #[test]
    fn split_keeps_a_frame_that_fits() {
        let f = frame(100);
        assert_eq!(split(&f, 100, [1; 16]).unwrap(), vec![f.clone()]);
        assert_eq!(
            split(&f, 10, [1; 16]).unwrap_err().code(),
            "invalid_argument"
        );
    }

    #[test]
    fn split_layout_and_bounds() {
        let f = frame(1000);
        let chunks = split(&f, 126, [9; 16]).unwrap();
        assert_eq!(chunks.len(), 10);
        for (i, c) in chunks.iter().enumerate() {
            assert!(c.len() <= 126);
            assert_eq!(c[0], FRAME_CHUNK);
            assert_eq!(c[1], CHUNK_VERSION);
            assert_eq!(&c[2..18], &[9; 16]);
            assert_eq!(&c[18..20], &(i as u16).to_le_bytes());
            assert_eq!(&c[20..22], &10u16.to_le_bytes());
            assert_eq!(&c[22..26], &1000u32.to_le_bytes());
            assert_eq!(&c[26..], &f[i * 100..(i + 1) * 100]);
        }
        // Too many chunks for a u16 count.
        let big = frame(70_000);
        assert_eq!(
            split(&big, CHUNK_HEADER_LEN + 1, [0; 16])
                .unwrap_err()
                .code(),
            "invalid_argument"
        );
        assert_eq!(
            split(&big, CHUNK_HEADER_LEN + 2, [0; 16]).unwrap().len(),
            35_000
        );
        assert_eq!(
            split(&big, CHUNK_HEADER_LEN, [0; 16]).unwrap_err().code(),
            "invalid_argument"
        );
    }

    #[test]
    fn decode_chunk_reasons() {
        let good = split(&frame(300), 126, [1; 16]).unwrap();
        assert!(decode_chunk(&good[0]).is_ok());
        let r = |b: &[u8]| reason(&decode_chunk(b).unwrap_err());
        assert_eq!(r(&good[0][..25]), DecodeReason::Truncated);
        assert_eq!(r(&[]), DecodeReason::Truncated);
        let mut b = good[0].clone();
        b[0] = 0xE1;
        assert_eq!(r(&b), DecodeReason::BadMagic);
        let mut b = good[0].clone();
        b[1] = 9;
        assert_eq!(r(&b), DecodeReason::UnknownVersion);
        // Header only: no data.
        assert_eq!(r(&good[0][..CHUNK_HEADER_LEN]), DecodeReason::NonCanonical);
        // Count 1.
        let mut b = good[0].clone();
        b[20..22].copy_from_slice(&1u16.to_le_bytes());
        assert_eq!(r(&b), DecodeReason::NonCanonical);
        // Index beyond count.
        let mut b = good[0].clone();
        b[18..20].copy_from_slice(&3u16.to_le_bytes());
        assert_eq!(r(&b), DecodeReason::Inconsistent);
        // More data than the total.
        let mut b = good[0].clone();
        b[22..26].copy_from_slice(&50u32.to_le_bytes());
        assert_eq!(r(&b), DecodeReason::Inconsistent);
        // A total smaller than the count.
        let c = Chunk {
            chunk_id: [0; 16],
            index: 0,
            count: 5,
            total_len: 4,
            data: b"x",
        };
        assert_eq!(r(&c.to_bytes()), DecodeReason::Inconsistent);
    }

    #[test]
    fn reassembles_in_any_order_and_ignores_duplicates() {
        let f = frame(1000);
        let mut chunks = split(&f, 126, [2; 16]).unwrap();
        chunks.reverse();
        chunks.swap(2, 7);
        let mut r = Reassembler::new(config()).unwrap();
        for (i, c) in chunks.iter().enumerate() {
            let out = r.push("peer", c, 10).unwrap();
            if i < chunks.len() - 1 {
                assert_eq!(out, None);
                assert_eq!(r.push("peer", c, 10).unwrap(), None, "duplicate");
            } else {
                assert_eq!(out, Some(f.clone()));
            }
        }
        let s = r.stats();
        assert_eq!(
            (s.completed, s.duplicates, s.pending, s.bytes),
            (1, 9, 0, 0)
        );
    }

    #[test]
    fn peers_are_kept_apart() {
        let f = frame(300);
        let g: Vec<u8> = frame(300).iter().map(|b| b ^ 0xff).collect();
        let cf = split(&f, 126, [3; 16]).unwrap();
        let cg = split(&g, 126, [3; 16]).unwrap();
        let mut r = Reassembler::new(config()).unwrap();
        assert_eq!(r.push("a", &cf[0], 0).unwrap(), None);
        assert_eq!(r.push("b", &cg[0], 0).unwrap(), None);
        assert_eq!(r.push("a", &cf[1], 0).unwrap(), None);
        assert_eq!(r.push("b", &cg[1], 0).unwrap(), None);
        assert_eq!(r.push("b", &cg[2], 0).unwrap(), Some(g));
        assert_eq!(r.push("a", &cf[2], 0).unwrap(), Some(f));
    }

    #[test]
    fn timeout_drops_incomplete_messages() {
        let chunks = split(&frame(300), 126, [4; 16]).unwrap();
        let mut r = Reassembler::new(config()).unwrap();
        r.push("p", &chunks[0], 100).unwrap();
        assert_eq!(r.expire(1_099), 0);
        assert_eq!(r.stats().pending, 1);
        assert_eq!(r.expire(1_100), 1);
        assert_eq!(r.stats().pending, 0);
        assert_eq!(r.stats().bytes, 0);
        assert_eq!(r.stats().expired, 1);
        // The late chunks start a new message, which never completes.
        assert_eq!(r.push("p", &chunks[1], 1_200).unwrap(), None);
        assert_eq!(r.push("p", &chunks[2], 1_300).unwrap(), None);
        // push expires by itself, and time never runs backwards.
        r.push("p", &split(&frame(300), 126, [5; 16]).unwrap()[0], 2_200)
            .unwrap();
        assert_eq!(r.stats().expired, 2);
        assert_eq!(r.expire(0), 0);
        assert_eq!(r.stats().pending, 1);
    }

    #[test]
    fn full_pending_evicts_the_oldest() {
        let mut r = Reassembler::new(config()).unwrap();
        for id in 0..4u8 {
            r.push("p", &split(&frame(300), 126, [id; 16]).unwrap()[0], 0)
                .unwrap();
        }
        assert_eq!(r.stats().pending, 4);
        let chunks = split(&frame(300), 126, [9; 16]).unwrap();
        r.push("p", &chunks[0], 0).unwrap();
        let s = r.stats();
        assert_eq!((s.pending, s.evicted), (4, 1));
        // Message 1 is intact.
        let one = split(&frame(300), 126, [1; 16]).unwrap();
        assert_eq!(r.push("p", &one[0], 0).unwrap(), None, "duplicate");
        assert!(r.push("p", &one[1], 0).unwrap().is_none());
        assert_eq!(r.push("p", &one[2], 0).unwrap(), Some(frame(300)));
        assert_eq!(r.stats().duplicates, 1);
        // Message 0 was evicted: its other chunks start over and cannot complete.
        let zero = split(&frame(300), 126, [0; 16]).unwrap();
        assert_eq!(r.push("p", &zero[1], 0).unwrap(), None);
        assert_eq!(r.push("p", &zero[2], 0).unwrap(), None);
        let s = r.stats();
        assert_eq!((s.pending, s.evicted, s.completed), (4, 1, 1));
    }

    #[test]
    fn byte_budget_evicts_the_oldest() {
        let mut r = Reassembler::new(ReassemblerConfig {
            max_bytes: 1_000,
            ..config()
        })
        .unwrap();
        let a = split(&frame(900), 326, [1; 16]).unwrap(); // 3 chunks of 300
        let b = split(&frame(900), 326, [2; 16]).unwrap();
        r.push("p", &a[0], 0).unwrap();
        r.push("p", &a[1], 0).unwrap();
        r.push("p", &b[0], 0).unwrap();
        r.push("p", &b[1], 0).unwrap();
        let s = r.stats();
        assert_eq!((s.pending, s.bytes, s.evicted), (1, 600, 1));
        assert_eq!(r.push("p", &b[2], 0).unwrap(), Some(frame(900)));
        assert_eq!(r.stats().bytes, 0);
    }

    #[test]
    fn per_message_limit() {
        let mut r = Reassembler::new(config()).unwrap();
        let big = split(&frame(5_001), 1_000, [1; 16]).unwrap();
        assert_eq!(
            reason(&r.push("p", &big[0], 0).unwrap_err()),
            DecodeReason::LengthLimit
        );
        let ok = split(&frame(5_000), 1_000, [2; 16]).unwrap();
        let mut last = None;
        for c in &ok {
            last = r.push("p", c, 0).unwrap();
        }
        assert_eq!(last, Some(frame(5_000)));
        // max_bytes caps max_message too.
        let mut r = Reassembler::new(ReassemblerConfig {
            max_bytes: 400,
            ..config()
        })
        .unwrap();
        let c = split(&frame(401), 126, [3; 16]).unwrap();
        assert_eq!(
            reason(&r.push("p", &c[0], 0).unwrap_err()),
            DecodeReason::LengthLimit
        );
        assert_eq!(r.stats().rejected, 1);
    }

    #[test]
    fn inconsistent_chunks_drop_the_message() {
        let f = frame(1000);
        let chunks = split(&f, 126, [1; 16]).unwrap();
        let other = split(&frame(1100), 126, [1; 16]).unwrap(); // same id, 11 chunks
        let mut r = Reassembler::new(config()).unwrap();
        r.push("p", &chunks[0], 0).unwrap();
        let e = r.push("p", &other[1], 0).unwrap_err();
        assert_eq!(reason(&e), DecodeReason::Inconsistent);
        assert_eq!(r.stats().pending, 0);
        // A chunk of another size than its siblings.
        let shorter = split(&f, 106, [1; 16]).unwrap(); // 80-byte chunks: 13 of them
        let mut r = Reassembler::new(config()).unwrap();
        r.push("p", &chunks[0], 0).unwrap();
        let mut odd = decode_chunk(&shorter[1]).unwrap();
        odd.count = 10;
        assert_eq!(
            reason(&r.push("p", &odd.to_bytes(), 0).unwrap_err()),
            DecodeReason::Inconsistent
        );
        // A last chunk of the wrong size.
        let mut r = Reassembler::new(config()).unwrap();
        r.push("p", &chunks[0], 0).unwrap();
        let mut last = decode_chunk(&chunks[9]).unwrap();
        last.data = &last.data[..50];
        assert_eq!(
            reason(&r.push("p", &last.to_bytes(), 0).unwrap_err()),
            DecodeReason::Inconsistent
        );
        // First chunk sizes that cannot make the total.
        let mut r = Reassembler::new(config()).unwrap();
        let lone = Chunk {
            chunk_id: [5; 16],
            index: 0,
            count: 2,
            total_len: 100,
            data: &[1; 10],
        };
        assert_eq!(
            reason(&r.push("p", &lone.to_bytes(), 0).unwrap_err()),
            DecodeReason::Inconsistent
        );
        let lone_last = Chunk {
            chunk_id: [5; 16],
            index: 2,
            count: 3,
            total_len: 100,
            data: &[1; 99],
        };
        assert_eq!(
            reason(&r.push("p", &lone_last.to_bytes(), 0).unwrap_err()),
            DecodeReason::Inconsistent
        );
        // A last chunk first, then a sibling that contradicts it.
        let mut r = Reassembler::new(config()).unwrap();
        let tail = Chunk {
            chunk_id: [6; 16],
            index: 2,
            count: 3,
            total_len: 100,
            data: &[1; 10],
        };
        r.push("p", &tail.to_bytes(), 0).unwrap();
        let head = Chunk {
            chunk_id: [6; 16],
            index: 0,
            count: 3,
            total_len: 100,
            data: &[1; 40],
        };
        assert_eq!(
            reason(&r.push("p", &head.to_bytes(), 0).unwrap_err()),
            DecodeReason::Inconsistent
        );
        assert_eq!(r.stats().rejected, 1);
        assert_eq!(r.stats().pending, 0);
    }

    #[test]
    fn malformed_chunks_are_counted() {
        let mut r = Reassembler::new(config()).unwrap();
        assert!(r.push("p", b"\xc1", 0).is_err());
        assert!(r.push("p", b"nonsense", 0).is_err());
        assert_eq!(r.stats().rejected, 2);
    }

    #[test]
    fn forget_drops_one_peer() {
        let mut r = Reassembler::new(config()).unwrap();
        r.push("a", &split(&frame(300), 126, [1; 16]).unwrap()[0], 0)
            .unwrap();
        r.push("a", &split(&frame(300), 126, [2; 16]).unwrap()[0], 0)
            .unwrap();
        r.push("b", &split(&frame(300), 126, [1; 16]).unwrap()[0], 0)
            .unwrap();
        assert_eq!(r.forget("a"), 2);
        assert_eq!(r.stats().pending, 1);
        assert_eq!(r.stats().bytes, 100);
    }

    #[test]
    fn one_peer_cannot_crowd_out_the_others() {
        let mut r = Reassembler::new(ReassemblerConfig {
            max_pending: 6,
            max_pending_per_peer: 3,
            ..config()
        })
        .unwrap();
        let first = |id: u8| split(&frame(300), 126, [id; 16]).unwrap();
        r.push("honest", &first(100)[0], 0).unwrap();
        for id in 0..10u8 {
            r.push("flood", &first(id)[0], 0).unwrap();
        }
        let s = r.stats();
        assert_eq!((s.pending, s.evicted), (4, 7));
        // The honest peer's message survived the flood and completes.
        let honest = first(100);
        assert_eq!(r.push("honest", &honest[1], 0).unwrap(), None);
        assert_eq!(r.push("honest", &honest[2], 0).unwrap(), Some(frame(300)));
        // The flood kept only its three newest messages.
        let newest = first(9);
        r.push("flood", &newest[1], 0).unwrap();
        assert_eq!(r.push("flood", &newest[2], 0).unwrap(), Some(frame(300)));
    }

    #[test]
    fn byte_pressure_evicts_the_heaviest_peer_first() {
        let mut r = Reassembler::new(ReassemblerConfig {
            max_bytes: 1_000,
            ..config()
        })
        .unwrap();
        let light = split(&frame(600), 326, [1; 16]).unwrap(); // 300 + 300
        let heavy_a = split(&frame(900), 326, [2; 16]).unwrap(); // 3 x 300
        let heavy_b = split(&frame(900), 326, [3; 16]).unwrap();
        r.push("light", &light[0], 0).unwrap(); // oldest overall
        r.push("heavy", &heavy_a[0], 0).unwrap();
        r.push("heavy", &heavy_a[1], 0).unwrap();
        r.push("heavy", &heavy_b[0], 0).unwrap(); // 1200 > 1000: evict heavy's oldest
        let s = r.stats();
        assert_eq!((s.pending, s.bytes, s.evicted), (2, 600, 1));
        assert_eq!(r.push("light", &light[1], 0).unwrap(), Some(frame(600)));
    }

    #[test]
    fn config_is_validated() {
        for bad in [
            ReassemblerConfig {
                max_pending: 0,
                ..config()
            },
            ReassemblerConfig {
                max_pending_per_peer: 0,
                ..config()
            },
            ReassemblerConfig {
                max_bytes: 0,
                ..config()
            },
            ReassemblerConfig {
                max_message: 0,
                ..config()
            },
            ReassemblerConfig {
                timeout_ms: 0,
                ..config()
            },
        ] {
            assert_eq!(
                Reassembler::new(bad).unwrap_err().code(),
                "invalid_argument"
            );
        }
        assert_eq!(ReassemblerConfig::default().max_pending, 1024);
    }

    impl Reassembler {
        /// Every gauge agrees with the messages actually held.
        fn check_invariants(&self) {
            assert_eq!(self.pending.len(), self.order.len());
            let mut bytes = 0;
            let mut per_peer: HashMap<&str, (usize, usize)> = HashMap::new();
            for (key, p) in &self.pending {
                assert_eq!(self.order.get(&p.seq), Some(key));
                let held: usize = p.pieces.values().map(Vec::len).sum();
                assert_eq!(held, p.buffered);
                assert!(p.buffered <= p.total_len as usize);
                assert!(p.pieces.len() < usize::from(p.count));
                bytes += p.buffered;
                let e = per_peer.entry(key.0.as_str()).or_default();
                e.0 += 1;
                e.1 += p.buffered;
            }
            assert_eq!(bytes, self.bytes);
            assert!(self.bytes <= self.config.max_bytes);
            assert!(self.pending.len() <= self.config.max_pending);
            assert_eq!(per_peer.len(), self.per_peer.len());
            for (peer, (n, b)) in per_peer {
                let u = self.per_peer[peer];
                assert_eq!((u.pending, u.bytes), (n, b));
                assert!(n <= self.config.max_pending_per_peer);
            }
        }
    }

    proptest! {
        #[test]
        fn prop_gauges_match_contents(
            ops in proptest::collection::vec(
                (0u8..3, 0u8..5, 1usize..700, any::<proptest::sample::Index>(), 0u64..400), 1..120),
        ) {
            // Random chunks of random messages from three peers, with time
            // moving on, under tight bounds: every gauge stays exact.
            let mut r = Reassembler::new(ReassemblerConfig {
                max_pending: 5,
                max_pending_per_peer: 3,
                max_bytes: 1_500,
                max_message: 1_200,
                timeout_ms: 2_000,
            })
            .unwrap();
            let mut now = 0;
            for (peer, id, len, which, dt) in ops {
                now += dt;
                let chunks = split(&frame(len), 126, [id; 16]).unwrap();
                let c = &chunks[which.index(chunks.len())];
                let peer = ["a", "b", "c"][usize::from(peer)];
                if let Ok(Some(out)) = r.push(peer, c, now) {
                    prop_assert_eq!(out, frame(len));
                }
                r.check_invariants();
            }
            r.expire(u64::MAX);
            r.check_invariants();
            prop_assert_eq!(r.stats().pending, 0);
        }

        #[test]
        fn prop_split_reassemble_any_order(
            len in 1usize..3_000, max_frame in 27usize..400,
            perm in any::<proptest::sample::Index>(), dup in any::<proptest::sample::Index>(),
        ) {
            let f = frame(len);
            let mut chunks = split(&f, max_frame, [7; 16]).unwrap();
            if chunks.len() == 1 {
                prop_assert_eq!(&chunks[0], &f);
                return Ok(());
            }
            prop_assert!(chunks.iter().all(|c| c.len() <= max_frame));
            let n = chunks.len();
            chunks.rotate_left(perm.index(n));
            // A copy of one chunk right after it (never after the last).
            let j = dup.index(n - 1);
            let d = chunks[j].clone();
            chunks.insert(j + 1, d);
            let mut r = Reassembler::new(ReassemblerConfig::default()).unwrap();
            let mut got = None;
            for c in &chunks {
                if let Some(out) = r.push("p", c, 0).unwrap() {
                    prop_assert!(got.is_none());
                    got = Some(out);
                }
            }
            prop_assert_eq!(got, Some(f));
            let s = r.stats();
            prop_assert_eq!((s.bytes, s.pending, s.duplicates, s.completed), (0, 0, 1, 1));
        }

        #[test]
        fn prop_push_never_panics(frames in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..80), 0..20)) {
            let mut r = Reassembler::new(config()).unwrap();
            for (i, mut f) in frames.into_iter().enumerate() {
                if f.len() > 2 { f[0] = FRAME_CHUNK; f[1] = CHUNK_VERSION; }
                let _ = r.push("p", &f, i as u64 * 100);
                let s = r.stats();
                prop_assert!(s.pending <= 4 && s.bytes <= 10_000);
            }
        }
    }
}
