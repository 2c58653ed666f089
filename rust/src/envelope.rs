//! The mesh envelope: the one frame every transport carries (sans-I/O codec).
//!
//! A frame on any transport is either an envelope (first byte
//! [`FRAME_ENVELOPE`]) or a chunk of one ([`crate::chunk`], first byte
//! [`crate::chunk::FRAME_CHUNK`]). An envelope is laid out as follows, integers
//! little-endian (the crate's convention):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | frame type `0xE1` |
//! | 1 | 1 | version (`1`) |
//! | 2 | 1 | kind (`1` data, `2` ack, `3` nack, `4` broadcast, `5` ping, `6` pong) |
//! | 3 | 1 | flags: bit 0 has target, bit 1 has signature, others zero |
//! | 4 | 1 | ttl |
//! | 5 | 1 | hops |
//! | 6 | 16 | message id |
//! | 22 | 8 | timestamp, ms (u64) |
//! | 30 | 32 | origin public key |
//! | 62 | 0 / 32 | target public key (if flagged) |
//! | . | 1 | topic length `t` (u8) |
//! | . | t | topic, UTF-8 |
//! | . | 4 | payload length `p` (u32, at most [`MAX_PAYLOAD`]) |
//! | . | p | payload |
//! | . | 0 / 64 | Ed25519 signature (if flagged) |
//!
//! Decoding is strict: there is exactly one encoding of every envelope, and
//! anything else is a [`CoreError::Decode`] with a reason (trailing bytes,
//! truncation, unknown version or kind, a length over its limit, unknown flag
//! bits, a topic that is not UTF-8, a broadcast that is unsigned or targeted, a
//! control message (ack, nack, ping, pong) whose payload exceeds
//! [`MAX_CONTROL_PAYLOAD`]).
//!
//! **Signatures.** The origin signs [`Envelope::signing_bytes`]: a domain
//! separator, then every field of the frame except `ttl`, `hops`, the
//! has-signature flag and the signature itself. Relays decrement the TTL and
//! count hops without invalidating the signature, and cannot change anything
//! else: not the kind, the ids, the keys, the time, the topic or the payload.
//! A broadcast must be signed (relays cannot forge one); other kinds may be.
//! [`verify_batch`] checks many envelopes with one batch equation
//! ([`crate::crypto::verify_batch`]).

use crate::codec::Reader;
use crate::crypto::{self, BatchItem, PUBLIC_KEY_LEN, SIGNATURE_LEN, SecretKey};
use crate::error::{CoreError, CoreResult, DecodeReason};

/// The first byte of an envelope frame.
pub const FRAME_ENVELOPE: u8 = 0xE1;
/// The envelope format version this build reads and writes.
pub const ENVELOPE_VERSION: u8 = 1;
/// Length of a message id, in bytes.
pub const MESSAGE_ID_LEN: usize = 16;
/// The longest topic, in UTF-8 bytes.
pub const MAX_TOPIC: usize = 255;
/// The largest payload, in bytes (16 MiB).
pub const MAX_PAYLOAD: usize = 16 << 20;
/// The largest payload of a control message (ack, nack, ping, pong).
pub const MAX_CONTROL_PAYLOAD: usize = 1024;
/// Bytes before the optional target: type, version, kind, flags, ttl, hops,
/// message id, timestamp and origin.
pub const FIXED_LEN: usize = 6 + MESSAGE_ID_LEN + 8 + PUBLIC_KEY_LEN;
/// The shortest envelope (no target, empty topic and payload, unsigned).
pub const MIN_ENVELOPE_LEN: usize = FIXED_LEN + 1 + 4;
/// The longest envelope.
pub const MAX_ENVELOPE_LEN: usize =
    FIXED_LEN + PUBLIC_KEY_LEN + 1 + MAX_TOPIC + 4 + MAX_PAYLOAD + SIGNATURE_LEN;
/// Flag bit: a target key follows the origin.
pub const FLAG_TARGET: u8 = 0x01;
/// Flag bit: a signature ends the frame.
pub const FLAG_SIGNATURE: u8 = 0x02;
const KNOWN_FLAGS: u8 = FLAG_TARGET | FLAG_SIGNATURE;
/// Offset of the ttl byte (not covered by the signature).
pub const TTL_OFFSET: usize = 4;
/// Offset of the hops byte (not covered by the signature).
pub const HOPS_OFFSET: usize = 5;

/// Domain separator of the signed bytes: an envelope signature can never be
/// replayed as a signature of anything else (a handshake, a transaction).
pub const SIGNING_DOMAIN: &[u8] = b"swarmmesh/envelope/v1\0";

const WHAT: &str = "Envelope";

/// What an envelope is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A unicast message that asks for an end-to-end ack.
    Data = 1,
    /// A positive answer to `message_id`.
    Ack = 2,
    /// A negative answer to `message_id`.
    Nack = 3,
    /// A signed message flooded to every node.
    Broadcast = 4,
    /// A liveness probe.
    Ping = 5,
    /// The answer to the ping `message_id`.
    Pong = 6,
}

impl Kind {
    /// Every kind, in wire order.
    pub const ALL: [Kind; 6] = [
        Kind::Data,
        Kind::Ack,
        Kind::Nack,
        Kind::Broadcast,
        Kind::Ping,
        Kind::Pong,
    ];

    /// The wire byte.
    #[inline]
    pub fn to_byte(self) -> u8 {
        self as u8
    }

    /// The kind of a wire byte, if it is one.
    #[inline]
    pub fn from_byte(b: u8) -> Option<Self> {
        Self::ALL.get(usize::from(b).wrapping_sub(1)).copied()
    }

    /// The name, as Python spells it (`"data"`, `"ack"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Data => "data",
            Self::Ack => "ack",
            Self::Nack => "nack",
            Self::Broadcast => "broadcast",
            Self::Ping => "ping",
            Self::Pong => "pong",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> CoreResult<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                CoreError::invalid(
                    "kind",
                    format!("{name:?} is not one of data, ack, nack, broadcast, ping, pong"),
                )
            })
    }

    /// Whether the payload is bounded by [`MAX_CONTROL_PAYLOAD`].
    #[inline]
    pub fn is_control(self) -> bool {
        matches!(self, Self::Ack | Self::Nack | Self::Ping | Self::Pong)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One envelope. `P` holds the payload: `Vec<u8>` when owned, `&[u8]` when
/// borrowed from the decoded frame, or anything else (the Python binding keeps
/// a Python `bytes`). The `*_with` methods take the payload bytes separately so
/// that any holder can use them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Envelope<P = Vec<u8>> {
    /// What the envelope is for.
    pub kind: Kind,
    /// The message id (for ack, nack and pong: the id of the message answered).
    pub message_id: [u8; MESSAGE_ID_LEN],
    /// The originator's public key.
    pub origin: [u8; PUBLIC_KEY_LEN],
    /// The final recipient's public key (unicast), `None` for a broadcast.
    pub target: Option<[u8; PUBLIC_KEY_LEN]>,
    /// Hops left; relays decrement it.
    pub ttl: u8,
    /// Hops travelled; relays increment it.
    pub hops: u8,
    /// The originator's clock when it made the envelope, in ms.
    pub timestamp_ms: u64,
    /// The topic (at most [`MAX_TOPIC`] bytes of UTF-8).
    pub topic: String,
    /// The payload (at most [`MAX_PAYLOAD`] bytes).
    pub payload: P,
    /// The origin's Ed25519 signature of [`Envelope::signing_bytes`].
    pub signature: Option<[u8; SIGNATURE_LEN]>,
}

/// A rule an envelope's fields break (shared by the constructor checks, which
/// report an argument error, and the decoder, which reports a decode error).
enum Violation {
    TopicTooLong(usize),
    PayloadTooLong(usize),
    ControlPayloadTooLong(Kind, usize),
    BroadcastWithTarget,
    BroadcastUnsigned,
}

impl Violation {
    fn into_decode(self) -> CoreError {
        let (reason, detail) = match self {
            Self::TopicTooLong(n) => (
                DecodeReason::LengthLimit,
                format!("topic of {n} bytes, limit {MAX_TOPIC}"),
            ),
            Self::PayloadTooLong(n) => (
                DecodeReason::LengthLimit,
                format!("payload of {n} bytes, limit {MAX_PAYLOAD}"),
            ),
            Self::ControlPayloadTooLong(k, n) => (
                DecodeReason::LengthLimit,
                format!("{k} payload of {n} bytes, limit {MAX_CONTROL_PAYLOAD}"),
            ),
            Self::BroadcastWithTarget => (
                DecodeReason::NonCanonical,
                "a broadcast has no target".to_owned(),
            ),
            Self::BroadcastUnsigned => (
                DecodeReason::NonCanonical,
                "a broadcast must be signed".to_owned(),
            ),
        };
        CoreError::decode(WHAT, reason, detail)
    }

    fn into_invalid(self) -> CoreError {
        match self {
            Self::TopicTooLong(n) => CoreError::invalid(
                "topic",
                format!("must be at most {MAX_TOPIC} bytes of UTF-8, got {n}"),
            ),
            Self::PayloadTooLong(n) => CoreError::invalid(
                "payload",
                format!("must be at most {MAX_PAYLOAD} bytes, got {n}"),
            ),
            Self::ControlPayloadTooLong(k, n) => CoreError::invalid(
                "payload",
                format!("a {k} payload must be at most {MAX_CONTROL_PAYLOAD} bytes, got {n}"),
            ),
            Self::BroadcastWithTarget => CoreError::invalid("target", "a broadcast has no target"),
            Self::BroadcastUnsigned => CoreError::invalid(
                "signature",
                "a broadcast must be signed before it is encoded (use signed())",
            ),
        }
    }
}

impl<P> Envelope<P> {
    /// A copy of the header fields around another payload holder.
    pub fn with_payload<Q>(&self, payload: Q) -> Envelope<Q> {
        Envelope {
            kind: self.kind,
            message_id: self.message_id,
            origin: self.origin,
            target: self.target,
            ttl: self.ttl,
            hops: self.hops,
            timestamp_ms: self.timestamp_ms,
            topic: self.topic.clone(),
            payload,
            signature: self.signature,
        }
    }

    fn violation(&self, payload_len: usize, need_signature: bool) -> Option<Violation> {
        if self.topic.len() > MAX_TOPIC {
            return Some(Violation::TopicTooLong(self.topic.len()));
        }
        if payload_len > MAX_PAYLOAD {
            return Some(Violation::PayloadTooLong(payload_len));
        }
        if self.kind.is_control() && payload_len > MAX_CONTROL_PAYLOAD {
            return Some(Violation::ControlPayloadTooLong(self.kind, payload_len));
        }
        if self.kind == Kind::Broadcast {
            if self.target.is_some() {
                return Some(Violation::BroadcastWithTarget);
            }
            if need_signature && self.signature.is_none() {
                return Some(Violation::BroadcastUnsigned);
            }
        }
        None
    }

    /// Checks every rule except "a broadcast is signed" (an envelope is built
    /// unsigned, then signed): `InvalidArgument` naming the offending field.
    pub fn check_with(&self, payload: &[u8]) -> CoreResult<()> {
        match self.violation(payload.len(), false) {
            None => Ok(()),
            Some(v) => Err(v.into_invalid()),
        }
    }

    /// The flags byte this envelope encodes with.
    #[inline]
    pub fn flags(&self) -> u8 {
        let mut f = 0;
        if self.target.is_some() {
            f |= FLAG_TARGET;
        }
        if self.signature.is_some() {
            f |= FLAG_SIGNATURE;
        }
        f
    }

    /// The length of the encoding with a payload of `payload_len` bytes.
    #[inline]
    pub fn encoded_len(&self, payload_len: usize) -> usize {
        FIXED_LEN
            + self.target.map_or(0, |_| PUBLIC_KEY_LEN)
            + 1
            + self.topic.len()
            + 4
            + payload_len
            + self.signature.map_or(0, |_| SIGNATURE_LEN)
    }

    /// The canonical frame, with `payload` as the payload. An unsigned
    /// broadcast or a field over its limit is an `InvalidArgument`.
    pub fn to_bytes_with(&self, payload: &[u8]) -> CoreResult<Vec<u8>> {
        let mut out = vec![0u8; self.encoded_len(payload.len())];
        self.encode_into(payload, &mut out)?;
        Ok(out)
    }

    /// Writes the canonical frame into `out`, which must be exactly
    /// [`Envelope::encoded_len`] bytes long (so a caller can encode straight
    /// into a buffer it owns, such as a Python `bytes`).
    pub fn encode_into(&self, payload: &[u8], out: &mut [u8]) -> CoreResult<()> {
        if let Some(v) = self.violation(payload.len(), true) {
            return Err(v.into_invalid());
        }
        let need = self.encoded_len(payload.len());
        if out.len() != need {
            return Err(CoreError::invalid(
                "out",
                format!("must be {need} bytes, got {}", out.len()),
            ));
        }
        let mut w = Writer { out, pos: 0 };
        w.put(&[
            FRAME_ENVELOPE,
            ENVELOPE_VERSION,
            self.kind.to_byte(),
            self.flags(),
            self.ttl,
            self.hops,
        ]);
        w.put(&self.message_id);
        w.put(&self.timestamp_ms.to_le_bytes());
        w.put(&self.origin);
        if let Some(t) = &self.target {
            w.put(t);
        }
        // Both lengths fit: the limits were checked above.
        w.put(&[self.topic.len() as u8]);
        w.put(self.topic.as_bytes());
        w.put(&(payload.len() as u32).to_le_bytes());
        w.put(payload);
        if let Some(s) = &self.signature {
            w.put(s);
        }
        Ok(())
    }

    /// The bytes the origin signs, with `payload` as the payload: the domain
    /// separator, then version, kind, has-target flag, message id, timestamp,
    /// origin, target, topic and payload (each length-prefixed as on the wire).
    /// Not covered: ttl, hops, the has-signature flag and the signature.
    pub fn signing_bytes_with(&self, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(SIGNING_DOMAIN.len() + self.encoded_len(payload.len()));
        out.extend_from_slice(SIGNING_DOMAIN);
        out.extend_from_slice(&[
            ENVELOPE_VERSION,
            self.kind.to_byte(),
            self.flags() & FLAG_TARGET,
        ]);
        out.extend_from_slice(&self.message_id);
        out.extend_from_slice(&self.timestamp_ms.to_le_bytes());
        out.extend_from_slice(&self.origin);
        if let Some(t) = &self.target {
            out.extend_from_slice(t);
        }
        // Lengths are written at full width so that an over-long field (which
        // can never be encoded) cannot collide with a shorter one.
        out.extend_from_slice(&(self.topic.len() as u64).to_le_bytes());
        out.extend_from_slice(self.topic.as_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// The signature of this envelope (with `payload`) by `key`, which must be
    /// the origin's key (else `InvalidArgument` naming `key`).
    pub fn sign_with(&self, key: &SecretKey, payload: &[u8]) -> CoreResult<[u8; SIGNATURE_LEN]> {
        if key.public_key() != self.origin {
            return Err(CoreError::invalid(
                "key",
                format!(
                    "the key of {} cannot sign for origin {}",
                    crypto::address_of(&key.public_key()),
                    crypto::address_of(&self.origin)
                ),
            ));
        }
        Ok(key.sign(&self.signing_bytes_with(payload)))
    }

    /// Whether the envelope (with `payload`) carries a valid signature by its
    /// origin. An unsigned envelope is not valid.
    pub fn verify_with(&self, payload: &[u8]) -> bool {
        self.signature
            .as_ref()
            .is_some_and(|sig| crypto::verify(&self.origin, &self.signing_bytes_with(payload), sig))
    }

    /// The envelope as a relay sends it on: `ttl - 1`, `hops + 1`, everything
    /// else (and so the signature's validity) unchanged. `InvalidArgument` at
    /// ttl 0 (it must not travel further) or at 255 hops.
    pub fn forwarded(mut self) -> CoreResult<Self> {
        if self.ttl == 0 {
            return Err(CoreError::invalid(
                "ttl",
                "is 0: the envelope must not be forwarded",
            ));
        }
        if self.hops == u8::MAX {
            return Err(CoreError::invalid(
                "hops",
                "is 255: the hop count cannot grow",
            ));
        }
        self.ttl -= 1;
        self.hops += 1;
        Ok(self)
    }
}

impl<P: AsRef<[u8]>> Envelope<P> {
    /// The canonical frame (see [`Envelope::to_bytes_with`]).
    pub fn to_bytes(&self) -> CoreResult<Vec<u8>> {
        self.to_bytes_with(self.payload.as_ref())
    }

    /// The bytes the origin signs (see [`Envelope::signing_bytes_with`]).
    pub fn signing_bytes(&self) -> Vec<u8> {
        self.signing_bytes_with(self.payload.as_ref())
    }

    /// A copy signed by `key`, which must be the origin's key.
    pub fn signed(&self, key: &SecretKey) -> CoreResult<Self>
    where
        P: Clone,
    {
        let sig = self.sign_with(key, self.payload.as_ref())?;
        let mut out = self.clone();
        out.signature = Some(sig);
        Ok(out)
    }

    /// Whether the envelope carries a valid signature by its origin.
    pub fn verify(&self) -> bool {
        self.verify_with(self.payload.as_ref())
    }
}

impl Envelope<&[u8]> {
    /// An owned copy.
    pub fn into_owned(self) -> Envelope {
        let payload = self.payload.to_vec();
        self.with_payload(payload)
    }
}

/// Decodes one envelope frame, borrowing the payload from `data`.
///
/// Strict: any input that is not the canonical encoding of a valid envelope is
/// a [`CoreError::Decode`] whose reason says why. Never panics and never
/// allocates more than the topic before checking that the input holds it.
pub fn decode(data: &[u8]) -> CoreResult<Envelope<&[u8]>> {
    let mut r = Reader::new(WHAT, data);
    let frame = r.u8("frame type")?;
    if frame != FRAME_ENVELOPE {
        return Err(CoreError::decode(
            WHAT,
            DecodeReason::BadMagic,
            format!("frame type {frame:#04x}, an envelope is {FRAME_ENVELOPE:#04x}"),
        ));
    }
    r.version(ENVELOPE_VERSION)?;
    let kind_byte = r.u8("kind")?;
    let kind = Kind::from_byte(kind_byte).ok_or_else(|| {
        CoreError::decode(WHAT, DecodeReason::UnknownKind, format!("kind {kind_byte}"))
    })?;
    let flags = r.u8("flags")?;
    if flags & !KNOWN_FLAGS != 0 {
        return Err(CoreError::decode(
            WHAT,
            DecodeReason::NonCanonical,
            format!("unknown flag bits {:#04x}", flags & !KNOWN_FLAGS),
        ));
    }
    let ttl = r.u8("ttl")?;
    let hops = r.u8("hops")?;
    let message_id = r.array::<MESSAGE_ID_LEN>("message id")?;
    let timestamp_ms = r.u64("timestamp")?;
    let origin = r.array::<PUBLIC_KEY_LEN>("origin")?;
    let target = if flags & FLAG_TARGET != 0 {
        Some(r.array::<PUBLIC_KEY_LEN>("target")?)
    } else {
        None
    };
    let topic_len = usize::from(r.u8("topic length")?);
    let topic = std::str::from_utf8(r.take(topic_len, "topic")?).map_err(|e| {
        CoreError::decode(
            WHAT,
            DecodeReason::NonCanonical,
            format!("topic is not UTF-8 ({e})"),
        )
    })?;
    let payload_len = r.u32("payload length")? as usize;
    if payload_len > MAX_PAYLOAD {
        return Err(Violation::PayloadTooLong(payload_len).into_decode());
    }
    if kind.is_control() && payload_len > MAX_CONTROL_PAYLOAD {
        return Err(Violation::ControlPayloadTooLong(kind, payload_len).into_decode());
    }
    let payload = r.take(payload_len, "payload")?;
    let signature = if flags & FLAG_SIGNATURE != 0 {
        Some(r.array::<SIGNATURE_LEN>("signature")?)
    } else {
        None
    };
    r.finish()?;
    let env = Envelope {
        kind,
        message_id,
        origin,
        target,
        ttl,
        hops,
        timestamp_ms,
        topic: topic.to_owned(),
        payload,
        signature,
    };
    if let Some(v) = env.violation(payload_len, true) {
        return Err(v.into_decode());
    }
    Ok(env)
}

/// One verdict per `(envelope, payload)` pair, in order: whether it carries a
/// valid signature by its origin (unsigned envelopes are `false`). Uses one
/// batch equation per chunk of work, over at most `threads` threads; the
/// verdicts are exactly those of [`Envelope::verify_with`].
pub fn verify_batch<P>(items: &[(&Envelope<P>, &[u8])], threads: usize) -> Vec<bool> {
    let signed: Vec<(usize, Vec<u8>)> = items
        .iter()
        .enumerate()
        .filter(|(_, (e, _))| e.signature.is_some())
        .map(|(i, (e, p))| (i, e.signing_bytes_with(p)))
        .collect();
    let mut batch = Vec::with_capacity(signed.len());
    for (i, msg) in &signed {
        let env = items[*i].0;
        if let Some(sig) = env.signature.as_ref() {
            batch.push(BatchItem {
                public_key: &env.origin,
                msg,
                sig,
            });
        }
    }
    let verdicts = crypto::verify_batch(&batch, threads);
    let mut out = vec![false; items.len()];
    for ((i, _), ok) in signed.iter().zip(verdicts) {
        out[*i] = ok;
    }
    out
}

/// [`verify_batch`] over owned envelopes.
pub fn verify_envelopes<P: AsRef<[u8]>>(envelopes: &[Envelope<P>], threads: usize) -> Vec<bool> {
    let items: Vec<(&Envelope<P>, &[u8])> =
        envelopes.iter().map(|e| (e, e.payload.as_ref())).collect();
    verify_batch(&items, threads)
}

/// Writes into a slice whose length was checked beforehand.
struct Writer<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl Writer<'_> {
    #[inline]
    fn put(&mut self, b: &[u8]) {
        self.out[self.pos..self.pos + b.len()].copy_from_slice(b);
        self.pos += b.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(i: u8) -> SecretKey {
        SecretKey::from_seed(&[i; 32])
    }

    fn data_env() -> Envelope {
        Envelope {
            kind: Kind::Data,
            message_id: [7; 16],
            origin: key(1).public_key(),
            target: Some(key(2).public_key()),
            ttl: 8,
            hops: 0,
            timestamp_ms: 1_700_000_000_123,
            topic: "chat/room".to_owned(),
            payload: b"hello".to_vec(),
            signature: None,
        }
    }

    fn broadcast() -> Envelope {
        let mut e = data_env();
        e.kind = Kind::Broadcast;
        e.target = None;
        e.payload = b"to everyone".to_vec();
        e.signed(&key(1)).unwrap()
    }

    fn reason(data: &[u8]) -> DecodeReason {
        match decode(data) {
            Err(CoreError::Decode { reason, .. }) => reason,
            other => panic!("expected a decode error, got {other:?}"),
        }
    }

    #[test]
    fn layout_is_as_documented() {
        let e = data_env();
        let b = e.to_bytes().unwrap();
        assert_eq!(b.len(), e.encoded_len(5));
        assert_eq!(b.len(), FIXED_LEN + 32 + 1 + 9 + 4 + 5);
        assert_eq!(&b[..6], &[0xE1, 1, 1, FLAG_TARGET, 8, 0]);
        assert_eq!(&b[6..22], &[7; 16]);
        assert_eq!(&b[22..30], &1_700_000_000_123u64.to_le_bytes());
        assert_eq!(&b[30..62], &key(1).public_key());
        assert_eq!(&b[62..94], &key(2).public_key());
        assert_eq!(b[94], 9);
        assert_eq!(&b[95..104], b"chat/room");
        assert_eq!(&b[104..108], &5u32.to_le_bytes());
        assert_eq!(&b[108..], b"hello");
        assert_eq!(decode(&b).unwrap().into_owned(), e);
    }

    #[test]
    fn smallest_envelope() {
        let e = Envelope {
            kind: Kind::Ping,
            message_id: [0; 16],
            origin: [0; 32],
            target: None,
            ttl: 0,
            hops: 0,
            timestamp_ms: 0,
            topic: String::new(),
            payload: Vec::new(),
            signature: None,
        };
        let b = e.to_bytes().unwrap();
        assert_eq!(b.len(), MIN_ENVELOPE_LEN);
        assert_eq!(decode(&b).unwrap().into_owned(), e);
    }

    #[test]
    fn kinds_round_trip_by_name_and_byte() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.name()).unwrap(), k);
            assert_eq!(Kind::from_byte(k.to_byte()), Some(k));
            assert_eq!(k.to_string(), k.name());
        }
        assert_eq!(Kind::from_byte(0), None);
        assert_eq!(Kind::from_byte(7), None);
        assert_eq!(Kind::from_byte(255), None);
        assert_eq!(Kind::parse("Data").unwrap_err().code(), "invalid_argument");
    }

    #[test]
    fn every_decode_reason() {
        let good = data_env().to_bytes().unwrap();
        assert_eq!(reason(&[]), DecodeReason::Truncated);
        assert_eq!(reason(&good[..good.len() - 1]), DecodeReason::Truncated);
        assert_eq!(reason(&good[..40]), DecodeReason::Truncated);
        let mut long = good.clone();
        long.push(0);
        assert_eq!(reason(&long), DecodeReason::TrailingBytes);
        let mut b = good.clone();
        b[0] = 0xC1;
        assert_eq!(reason(&b), DecodeReason::BadMagic);
        let mut b = good.clone();
        b[1] = 2;
        assert_eq!(reason(&b), DecodeReason::UnknownVersion);
        for bad_kind in [0u8, 7, 0xff] {
            let mut b = good.clone();
            b[2] = bad_kind;
            assert_eq!(reason(&b), DecodeReason::UnknownKind);
        }
        let mut b = good.clone();
        b[3] |= 0x04;
        assert_eq!(reason(&b), DecodeReason::NonCanonical);
        // A topic that is not UTF-8.
        let mut b = good.clone();
        b[95] = 0xff;
        assert_eq!(reason(&b), DecodeReason::NonCanonical);
        // A payload length over the limit.
        let mut b = good.clone();
        b[104..108].copy_from_slice(&((MAX_PAYLOAD as u32) + 1).to_le_bytes());
        assert_eq!(reason(&b), DecodeReason::LengthLimit);
        // A payload length beyond the input.
        let mut b = good.clone();
        b[104..108].copy_from_slice(&6u32.to_le_bytes());
        assert_eq!(reason(&b), DecodeReason::Truncated);
    }

    #[test]
    fn broadcast_rules() {
        let good = broadcast().to_bytes().unwrap();
        assert!(decode(&good).unwrap().verify());
        // Clearing the signature flag and dropping the signature: unsigned.
        let mut b = good[..good.len() - 64].to_vec();
        b[3] &= !FLAG_SIGNATURE;
        assert_eq!(reason(&b), DecodeReason::NonCanonical);
        // A targeted broadcast.
        let mut e = broadcast();
        e.target = Some([3; 32]);
        assert_eq!(e.to_bytes().unwrap_err().code(), "invalid_argument");
        let mut raw = e.clone();
        raw.kind = Kind::Data;
        let mut b = raw.to_bytes().unwrap();
        b[2] = Kind::Broadcast.to_byte();
        assert_eq!(reason(&b), DecodeReason::NonCanonical);
        // Encoding an unsigned broadcast is refused, checking it is not.
        let mut unsigned = broadcast();
        unsigned.signature = None;
        assert!(unsigned.check_with(&unsigned.payload).is_ok());
        match unsigned.to_bytes() {
            Err(CoreError::InvalidArgument { arg, .. }) => assert_eq!(arg, "signature"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn control_payload_limit() {
        for kind in [Kind::Ack, Kind::Nack, Kind::Ping, Kind::Pong] {
            let mut e = data_env();
            e.kind = kind;
            e.payload = vec![1; MAX_CONTROL_PAYLOAD];
            let ok = e.to_bytes().unwrap();
            assert!(decode(&ok).is_ok());
            e.payload.push(1);
            assert_eq!(
                e.check_with(&e.payload).unwrap_err().code(),
                "invalid_argument"
            );
            let mut d = e.clone();
            d.kind = Kind::Data;
            let mut b = d.to_bytes().unwrap();
            b[2] = kind.to_byte();
            assert_eq!(reason(&b), DecodeReason::LengthLimit);
        }
    }

    #[test]
    fn field_limits_are_argument_errors() {
        let mut e = data_env();
        e.topic = "x".repeat(MAX_TOPIC);
        assert!(e.to_bytes().is_ok());
        e.topic.push('x');
        match e.to_bytes() {
            Err(CoreError::InvalidArgument { arg, .. }) => assert_eq!(arg, "topic"),
            other => panic!("{other:?}"),
        }
        let e = data_env();
        match e.check_with(&vec![0; MAX_PAYLOAD + 1]) {
            Err(CoreError::InvalidArgument { arg, .. }) => assert_eq!(arg, "payload"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn largest_payload_round_trips() {
        let mut e = data_env();
        e.payload = vec![0xab; MAX_PAYLOAD];
        let b = e.to_bytes().unwrap();
        let d = decode(&b).unwrap();
        assert_eq!(d.payload.len(), MAX_PAYLOAD);
    }

    #[test]
    fn signing_bytes_are_domain_separated_and_skip_ttl_hops() {
        let e = broadcast();
        let s = e.signing_bytes();
        assert!(s.starts_with(SIGNING_DOMAIN));
        let f = e.clone().forwarded().unwrap();
        assert_eq!((f.ttl, f.hops), (7, 1));
        assert_eq!(f.signing_bytes(), s);
        assert!(f.verify());
        // Signed before or after the signature is attached: same bytes.
        let mut unsigned = e.clone();
        unsigned.signature = None;
        assert_eq!(unsigned.signing_bytes(), s);
        // The signature is not a plain signature of the frame.
        let sig = e.signature.unwrap();
        let frame = e.to_bytes().unwrap();
        assert!(!crypto::verify(&e.origin, &frame[..frame.len() - 64], &sig));
        assert!(crypto::verify(&e.origin, &s, &sig));
    }

    #[test]
    fn sign_checks_the_key_and_verify_the_origin() {
        let e = data_env();
        match e.signed(&key(2)) {
            Err(CoreError::InvalidArgument { arg, .. }) => assert_eq!(arg, "key"),
            other => panic!("{other:?}"),
        }
        assert!(!e.verify(), "unsigned is not valid");
        let s = e.signed(&key(1)).unwrap();
        assert!(s.verify());
        let mut moved = s.clone();
        moved.origin = key(2).public_key();
        assert!(!moved.verify());
        let mut other = s.clone();
        other.payload = b"hellp".to_vec();
        assert!(!other.verify());
        let mut garbage = s;
        garbage.origin = [0xff; 32];
        assert!(!garbage.verify());
    }

    #[test]
    fn forwarded_stops_at_ttl_zero_and_hops_max() {
        let mut e = data_env();
        e.ttl = 1;
        let f = e.forwarded().unwrap();
        assert_eq!((f.ttl, f.hops), (0, 1));
        match f.forwarded() {
            Err(CoreError::InvalidArgument { arg, .. }) => assert_eq!(arg, "ttl"),
            other => panic!("{other:?}"),
        }
        let mut e = data_env();
        e.hops = 255;
        match e.forwarded() {
            Err(CoreError::InvalidArgument { arg, .. }) => assert_eq!(arg, "hops"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn batch_verification_finds_the_bad_ones() {
        let mut envs: Vec<Envelope> = (0..12u8)
            .map(|i| {
                let mut e = data_env();
                e.kind = Kind::Broadcast;
                e.target = None;
                e.message_id = [i; 16];
                e.origin = key(i % 5).public_key();
                e.payload = vec![i; usize::from(i)];
                e.signed(&key(i % 5)).unwrap()
            })
            .collect();
        envs[3].payload.push(0);
        envs[7].signature.as_mut().unwrap()[10] ^= 1;
        envs[9].signature = None;
        envs[11].topic.push('!');
        {
            let v = verify_envelopes(&envs, 1);
            let single: Vec<bool> = envs.iter().map(Envelope::verify).collect();
            assert_eq!(v, single);
            let bad: Vec<usize> = (0..12).filter(|i| !v[*i]).collect();
            assert_eq!(bad, vec![3, 7, 9, 11]);
        }
        assert!(verify_envelopes::<Vec<u8>>(&[], 1).is_empty());
    }

    fn arb_envelope() -> impl Strategy<Value = Envelope> {
        (
            proptest::sample::select(Kind::ALL.to_vec()),
            any::<[u8; 16]>(),
            any::<[u8; 32]>(),
            proptest::option::of(any::<[u8; 32]>()),
            any::<(u8, u8, u64)>(),
            "\\PC{0,40}",
            proptest::collection::vec(any::<u8>(), 0..300),
            proptest::option::of(any::<[u8; 32]>()),
        )
            .prop_map(
                |(kind, message_id, origin, target, (ttl, hops, ts), topic, payload, sig_seed)| {
                    // Signatures are arbitrary bytes here (the codec does not
                    // check them); a broadcast always carries one.
                    let seed = match (kind, sig_seed) {
                        (Kind::Broadcast, None) => Some(origin),
                        (_, seed) => seed,
                    };
                    let signature = seed.map(|s| {
                        let mut sig = [0u8; 64];
                        sig[..32].copy_from_slice(&s);
                        sig[32..].copy_from_slice(&message_id.repeat(2));
                        sig
                    });
                    let mut e = Envelope {
                        kind,
                        message_id,
                        origin,
                        target: if kind == Kind::Broadcast {
                            None
                        } else {
                            target
                        },
                        ttl,
                        hops,
                        timestamp_ms: ts,
                        topic,
                        payload,
                        signature,
                    };
                    if kind.is_control() {
                        e.payload.truncate(MAX_CONTROL_PAYLOAD);
                    }
                    e
                },
            )
    }

    proptest! {
        // Signing and verifying dominate (slow in debug builds): fewer cases.
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn prop_any_covered_byte_change_breaks_the_signature(
            e in arb_envelope(), pos in any::<proptest::sample::Index>(), xor in 1u8..=255,
        ) {
            let mut e = e;
            e.kind = Kind::Broadcast;
            e.target = None;
            e.origin = key(0).public_key();
            let e = e.signed(&key(0)).unwrap();
            let frame = e.to_bytes().unwrap();
            let i = pos.index(frame.len());
            let mut m = frame.clone();
            m[i] ^= xor;
            let accepted = decode(&m).is_ok_and(|d| d.verify());
            if i == TTL_OFFSET || i == HOPS_OFFSET {
                prop_assert!(accepted, "ttl/hops are not covered");
            } else {
                prop_assert!(!accepted, "mutation at {} accepted", i);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn prop_round_trip(e in arb_envelope()) {
            let b = e.to_bytes().unwrap();
            prop_assert_eq!(b.len(), e.encoded_len(e.payload.len()));
            let d = decode(&b).unwrap();
            prop_assert_eq!(d.into_owned(), e);
        }

        #[test]
        fn prop_decoder_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = decode(&data);
        }

        #[test]
        fn prop_decoder_never_panics_past_the_header(
            head in proptest::collection::vec(any::<u8>(), 0..4),
            rest in proptest::collection::vec(any::<u8>(), 0..400),
        ) {
            let mut data = vec![FRAME_ENVELOPE, ENVELOPE_VERSION];
            data.extend(head);
            data.extend(rest);
            let _ = decode(&data);
        }
    }
}
