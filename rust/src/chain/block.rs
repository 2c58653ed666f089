//! Block headers and blocks.
//!
//! Header layout (see `docs/chain.md`), integers little-endian:
//!
//! ```text
//! version u32 | chain_id (u8 len, [a-z0-9-]) | height u64 | prev_id [32] | merkle_root [32]
//! | timestamp_ms u64 | target [32, big-endian] | producer [32] | nonce u64
//! ```
//!
//! The nonce is last so that a miner hashes the fixed prefix once and only the
//! final SHA-256 block per nonce (see [`super::pow::mine`]). The header
//! `version` is a consensus field: the decoder reads any value and the ledger
//! rejects unknown ones with `bad-version`.
//!
//! Block layout: the header, then `count u32` and `count` times
//! `(len u32, transaction bytes)`.

use crate::codec::{Reader, Writer, ascii_string};
use crate::crypto::sha256;
use crate::error::{CoreResult, DecodeReason};

use super::pow;
use super::tx::Transaction;
use super::{
    Hash32, MAX_BLOCK_BYTES, MAX_BLOCK_TXS, MAX_CHAIN_ID_LEN, MAX_TX_BYTES, MIN_CHAIN_ID_LEN,
    PublicKey, check_chain_id, is_chain_id_byte,
};

/// The header version this build produces and the ledger accepts.
pub const HEADER_VERSION: u32 = 1;
/// Encoded header size without the chain id bytes.
pub const HEADER_FIXED_LEN: usize = 4 + 1 + 8 + 32 + 32 + 8 + 32 + 32 + 8;
/// Largest encoded header.
pub const MAX_HEADER_LEN: usize = HEADER_FIXED_LEN + MAX_CHAIN_ID_LEN;

/// A block header. Its id is SHA-256 of [`BlockHeader::to_bytes`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlockHeader {
    /// Consensus version ([`HEADER_VERSION`]).
    pub version: u32,
    /// The chain, 1 to 32 of `[a-z0-9-]`.
    pub chain_id: String,
    /// Height: 0 for genesis, parent + 1 otherwise.
    pub height: u64,
    /// The parent's id (all zero for genesis).
    pub prev_id: Hash32,
    /// [`super::merkle_root`] of the transaction ids.
    pub merkle_root: Hash32,
    /// Production time, ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// Proof-of-work target, a big-endian 256-bit integer: valid when id <= target.
    pub target: Hash32,
    /// Nonce varied by the miner.
    pub nonce: u64,
    /// The producer's public key (the reward's sender).
    pub producer: PublicKey,
}

const HEADER: &str = "BlockHeader";
const BLOCK: &str = "Block";

impl BlockHeader {
    /// Checks that the header can be encoded (its chain id).
    pub fn check_encodable(&self) -> CoreResult<()> {
        check_chain_id("chain_id", &self.chain_id)
    }

    /// Appends the canonical bytes to `w`.
    pub fn encode(&self, w: &mut Writer) {
        w.u32(self.version)
            .bytes_u8(self.chain_id.as_bytes())
            .u64(self.height)
            .raw(&self.prev_id)
            .raw(&self.merkle_root)
            .u64(self.timestamp_ms)
            .raw(&self.target)
            .raw(&self.producer)
            .u64(self.nonce);
    }

    /// The encoded length.
    pub fn encoded_len(&self) -> usize {
        HEADER_FIXED_LEN + self.chain_id.len()
    }

    /// The canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(self.encoded_len());
        self.encode(&mut w);
        w.into_bytes()
    }

    /// The block id: SHA-256 of the canonical bytes.
    pub fn id(&self) -> Hash32 {
        sha256(&self.to_bytes())
    }

    /// Decodes canonical bytes, strictly.
    pub fn decode(data: &[u8]) -> CoreResult<Self> {
        let mut r = Reader::new(HEADER, data);
        let h = Self::read(&mut r)?;
        r.finish()?;
        Ok(h)
    }

    fn read(r: &mut Reader<'_>) -> CoreResult<Self> {
        let version = r.u32("version")?;
        let raw = r.bytes_u8("chain_id", MIN_CHAIN_ID_LEN, MAX_CHAIN_ID_LEN)?;
        let chain_id = ascii_string(HEADER, "chain_id", raw, is_chain_id_byte)?;
        Ok(Self {
            version,
            chain_id,
            height: r.u64("height")?,
            prev_id: r.array("prev_id")?,
            merkle_root: r.array("merkle_root")?,
            timestamp_ms: r.u64("timestamp_ms")?,
            target: r.array("target")?,
            producer: r.array("producer")?,
            nonce: r.u64("nonce")?,
        })
    }

    /// The expected number of hashes to meet the target:
    /// `floor(2^256 / (target + 1))`, saturating at `u128::MAX`.
    pub fn work(&self) -> u128 {
        pow::work(&self.target)
    }

    /// Whether the id, read as a big-endian integer, is at most the target.
    pub fn meets_target(&self) -> bool {
        pow::meets_target(&self.id(), &self.target)
    }
}

/// A block: a header and its transactions, the reward first.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Block {
    /// The header; the block id is its id.
    pub header: BlockHeader,
    /// The transactions, in order.
    pub txs: Vec<Transaction>,
}

impl Block {
    /// The block id (the header's).
    pub fn id(&self) -> Hash32 {
        self.header.id()
    }

    /// The encoded length, without encoding.
    pub fn encoded_len(&self) -> usize {
        self.header.encoded_len() + 4 + self.txs.iter().map(|t| 4 + t.encoded_len()).sum::<usize>()
    }

    /// The canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(self.encoded_len());
        self.header.encode(&mut w);
        w.u32(self.txs.len() as u32);
        for t in &self.txs {
            w.u32(t.encoded_len() as u32);
            t.encode(&mut w);
        }
        w.into_bytes()
    }

    /// SHA-256 of the full block bytes: what an invalid block is remembered by,
    /// so that a mutated copy cannot poison the id of the valid block.
    pub fn content_hash(&self) -> Hash32 {
        sha256(&self.to_bytes())
    }

    /// The transaction ids, in order.
    pub fn tx_ids(&self) -> Vec<Hash32> {
        self.txs.iter().map(Transaction::id).collect()
    }

    /// Decodes canonical bytes, strictly.
    pub fn decode(data: &[u8]) -> CoreResult<Self> {
        Self::decode_with_ids(data).map(|(b, _)| b)
    }

    /// Decodes canonical bytes and returns the transaction ids too, hashed
    /// straight from the input (no re-encoding).
    pub fn decode_with_ids(data: &[u8]) -> CoreResult<(Self, Vec<Hash32>)> {
        let mut r = Reader::new(BLOCK, data);
        if data.len() > MAX_BLOCK_BYTES {
            return Err(r.error(
                DecodeReason::LengthLimit,
                format!(
                    "{} bytes, a block has at most {MAX_BLOCK_BYTES}",
                    data.len()
                ),
            ));
        }
        let header = BlockHeader::read(&mut r)?;
        let n = r.u32("tx count")? as usize;
        if n > MAX_BLOCK_TXS {
            return Err(r.error(
                DecodeReason::LengthLimit,
                format!("{n} transactions, a block has at most {MAX_BLOCK_TXS}"),
            ));
        }
        // Every entry needs at least its length prefix: refuse before allocating.
        if r.remaining() < n * 4 {
            return Err(r.error(
                DecodeReason::Truncated,
                format!("{n} transactions need at least {} bytes", n * 4),
            ));
        }
        let mut txs = Vec::with_capacity(n);
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let len = r.u32("tx length")? as usize;
            if len > MAX_TX_BYTES {
                return Err(r.error(
                    DecodeReason::LengthLimit,
                    format!("transaction {i}: {len} bytes, at most {MAX_TX_BYTES}"),
                ));
            }
            let raw = r.take(len, "transaction")?;
            txs.push(Transaction::decode(raw)?);
            ids.push(sha256(raw));
        }
        r.finish()?;
        Ok((Self { header, txs }, ids))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tx::tests::{arb_tx, key, sample_bodies};
    use super::*;
    use crate::chain::merkle_root;
    use proptest::prelude::*;

    pub(crate) fn header() -> BlockHeader {
        BlockHeader {
            version: HEADER_VERSION,
            chain_id: "swarm-devnet".into(),
            height: 1,
            prev_id: [1; 32],
            merkle_root: [2; 32],
            timestamp_ms: 1_700_000_000_000,
            target: [0xff; 32],
            nonce: 42,
            producer: [3; 32],
        }
    }

    #[test]
    fn header_layout_round_trip_and_id() {
        let h = header();
        let b = h.to_bytes();
        assert_eq!(b.len(), HEADER_FIXED_LEN + 12);
        assert_eq!(&b[..4], &1u32.to_le_bytes());
        assert_eq!(b[4], 12);
        assert_eq!(&b[b.len() - 8..], &42u64.to_le_bytes());
        assert_eq!(&b[b.len() - 40..b.len() - 8], &[3; 32]);
        assert_eq!(BlockHeader::decode(&b).unwrap(), h);
        assert_eq!(h.id(), sha256(&b));
        assert!(h.meets_target());
        // Any version decodes (bad-version is a ledger reason).
        let mut v = h.clone();
        v.version = 7;
        assert_eq!(BlockHeader::decode(&v.to_bytes()).unwrap(), v);
    }

    #[test]
    fn header_decode_reasons() {
        let b = header().to_bytes();
        let code = |d: &[u8]| BlockHeader::decode(d).unwrap_err().code();
        assert_eq!(code(&b[..b.len() - 1]), "decode.truncated");
        let mut long = b.clone();
        long.push(0);
        assert_eq!(code(&long), "decode.trailing_bytes");
        let mut bad = b.clone();
        bad[4] = 0;
        assert_eq!(code(&bad), "decode.length_limit");
        let mut bad = b.clone();
        bad[4] = 40;
        assert_eq!(code(&bad), "decode.length_limit");
        let mut bad = b;
        bad[5] = b'_';
        assert_eq!(code(&bad), "decode.non_canonical");
    }

    fn block() -> Block {
        let txs: Vec<Transaction> = sample_bodies()
            .into_iter()
            .enumerate()
            .map(|(i, body)| Transaction::sign(&key(i as u8), "swarm-devnet", 1, 1, body).unwrap())
            .collect();
        let mut header = header();
        header.merkle_root = merkle_root(&txs.iter().map(Transaction::id).collect::<Vec<_>>());
        Block { header, txs }
    }

    #[test]
    fn block_round_trip_ids_and_content_hash() {
        let b = block();
        let bytes = b.to_bytes();
        assert_eq!(b.encoded_len(), bytes.len());
        let (back, ids) = Block::decode_with_ids(&bytes).unwrap();
        assert_eq!(back, b);
        assert_eq!(ids, b.tx_ids());
        assert_eq!(b.content_hash(), sha256(&bytes));
        assert_eq!(b.id(), b.header.id());
        // A block with the same header but other transactions: same id, other content.
        let mut mutated = b.clone();
        mutated.txs.push(mutated.txs[1].clone());
        assert_eq!(mutated.id(), b.id());
        assert_ne!(mutated.content_hash(), b.content_hash());
    }

    #[test]
    fn block_decode_reasons() {
        let b = block();
        let bytes = b.to_bytes();
        let code = |d: &[u8]| Block::decode(d).unwrap_err().code();
        assert_eq!(code(&bytes[..bytes.len() - 3]), "decode.truncated");
        let mut long = bytes.clone();
        long.push(1);
        assert_eq!(code(&long), "decode.trailing_bytes");
        let at = b.header.encoded_len();
        let mut bad = bytes.clone();
        bad[at..at + 4].copy_from_slice(&(MAX_BLOCK_TXS as u32 + 1).to_le_bytes());
        assert_eq!(code(&bad), "decode.length_limit");
        let mut bad = bytes.clone();
        bad[at..at + 4].copy_from_slice(&(MAX_BLOCK_TXS as u32).to_le_bytes());
        assert_eq!(code(&bad), "decode.truncated");
        let mut bad = bytes.clone();
        bad[at + 4..at + 8].copy_from_slice(&(MAX_TX_BYTES as u32 + 1).to_le_bytes());
        assert_eq!(code(&bad), "decode.length_limit");
        // A tx length one short: the inner transaction is truncated.
        let mut bad = bytes.clone();
        let len = u32::from_le_bytes(bad[at + 4..at + 8].try_into().unwrap());
        bad[at + 4..at + 8].copy_from_slice(&(len - 1).to_le_bytes());
        assert_eq!(code(&bad), "decode.truncated");
        // An inner unknown version surfaces with the transaction's reason.
        let mut bad = bytes;
        bad[at + 8] = 9;
        let e = Block::decode(&bad).unwrap_err();
        assert_eq!(e.code(), "decode.unknown_version");
        assert!(e.to_string().contains("Transaction"));
        assert_eq!(code(&vec![0u8; MAX_BLOCK_BYTES + 1]), "decode.length_limit");
    }

    fn arb_header() -> impl Strategy<Value = BlockHeader> {
        let h = proptest::array::uniform32(any::<u8>());
        (
            any::<u32>(),
            "[a-z0-9-]{1,32}",
            any::<u64>(),
            h,
            h,
            any::<u64>(),
            h,
            any::<u64>(),
            h,
        )
            .prop_map(
                |(
                    version,
                    chain_id,
                    height,
                    prev_id,
                    merkle_root,
                    timestamp_ms,
                    target,
                    nonce,
                    producer,
                )| {
                    BlockHeader {
                        version,
                        chain_id,
                        height,
                        prev_id,
                        merkle_root,
                        timestamp_ms,
                        target,
                        nonce,
                        producer,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn header_round_trip(h in arb_header()) {
            prop_assert_eq!(BlockHeader::decode(&h.to_bytes()).unwrap(), h);
        }

        #[test]
        fn block_round_trip(h in arb_header(), txs in proptest::collection::vec(arb_tx(), 0..6)) {
            let b = Block { header: h, txs };
            prop_assert_eq!(b.encoded_len(), b.to_bytes().len());
            let (back, ids) = Block::decode_with_ids(&b.to_bytes()).unwrap();
            prop_assert_eq!(ids, b.tx_ids());
            prop_assert_eq!(back, b);
        }

        #[test]
        fn decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = BlockHeader::decode(&data);
            let _ = Block::decode(&data);
        }

        #[test]
        fn mutated_block_never_panics(i in any::<usize>(), b in any::<u8>()) {
            let mut bytes = block().to_bytes();
            let i = i % bytes.len();
            bytes[i] = b;
            if let Ok(back) = Block::decode(&bytes) {
                prop_assert_eq!(back.to_bytes(), bytes);
            }
        }
    }
}
