//! Signed transactions.
//!
//! Layout (version 1, see `docs/chain.md`), all integers little-endian:
//!
//! ```text
//! version u8 = 1 | kind u8 | chain_id (u8 len, [a-z0-9-]) | sender [32] | nonce u64 | fee u64
//! | body (by kind) | signature [64]
//! ```
//!
//! The signature covers [`Transaction::signing_bytes`]: the domain separator
//! `swarmmesh/tx/v1` followed by every byte above except the signature, so a
//! transaction signature can never be replayed as a signature of anything else
//! (a link handshake, a block), nor on another chain (the chain id is signed).
//! The id is SHA-256 of the full bytes, signature included.

use crate::codec::{Reader, Writer, ascii_string};
use crate::crypto::{SecretKey, sha256, sha256_parts};
use crate::error::{CoreError, CoreResult, DecodeReason};

use super::{
    Hash32, MAX_CHAIN_ID_LEN, MAX_RECIPIENTS, MAX_SYMBOL_LEN, MAX_TX_BYTES, MIN_CHAIN_ID_LEN,
    MIN_SYMBOL_LEN, PublicKey, Signature, check_chain_id, check_symbol_encodable, is_chain_id_byte,
    is_symbol_byte,
};

/// The transaction format version.
pub const TX_VERSION: u8 = 1;
/// Domain separator prefixed to the signed bytes.
pub const TX_SIGNING_DOMAIN: &[u8] = b"swarmmesh/tx/v1";
/// Domain separator of token ids.
pub const TOKEN_ID_DOMAIN: &[u8] = b"swarmmesh/token/v1";

const WHAT: &str = "Transaction";

/// Kind tags, in wire order.
const KIND_REWARD: u8 = 0;
const KIND_TRANSFER: u8 = 1;
const KIND_DONATE: u8 = 2;
const KIND_CREATE_TOKEN: u8 = 3;
const KIND_TRANSFER_TOKEN: u8 = 4;
const KIND_DISTRIBUTE_TOKEN: u8 = 5;

/// What a transaction does. `Transaction.kind` in Python is the snake-case name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TxBody {
    /// The block reward: sender = producer, nonce = block height, fee = 0.
    Reward {
        /// Subsidy + fees + pool payout.
        amount: u64,
    },
    /// Coins from the sender to `to`.
    Transfer {
        /// The recipient.
        to: PublicKey,
        /// Coins moved.
        amount: u64,
    },
    /// Coins from the sender into the reward pool.
    Donate {
        /// Coins given.
        amount: u64,
    },
    /// A new profile token owned by the sender, its whole supply credited to it.
    CreateToken {
        /// 1 to 12 of `[A-Z0-9]` to be valid (any printable ASCII decodes).
        symbol: String,
        /// Units created.
        supply: u64,
    },
    /// Token units from the sender to `to`.
    TransferToken {
        /// The token (see [`token_id`]).
        token_id: Hash32,
        /// The recipient.
        to: PublicKey,
        /// Units moved.
        amount: u64,
    },
    /// Token units from the owner to many holders at once.
    DistributeToken {
        /// The token.
        token_id: Hash32,
        /// (recipient, units), at most [`MAX_RECIPIENTS`] to decode.
        recipients: Vec<(PublicKey, u64)>,
    },
}

impl TxBody {
    /// The snake-case kind name (`"transfer"`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Reward { .. } => "reward",
            Self::Transfer { .. } => "transfer",
            Self::Donate { .. } => "donate",
            Self::CreateToken { .. } => "create_token",
            Self::TransferToken { .. } => "transfer_token",
            Self::DistributeToken { .. } => "distribute_token",
        }
    }

    fn tag(&self) -> u8 {
        match self {
            Self::Reward { .. } => KIND_REWARD,
            Self::Transfer { .. } => KIND_TRANSFER,
            Self::Donate { .. } => KIND_DONATE,
            Self::CreateToken { .. } => KIND_CREATE_TOKEN,
            Self::TransferToken { .. } => KIND_TRANSFER_TOKEN,
            Self::DistributeToken { .. } => KIND_DISTRIBUTE_TOKEN,
        }
    }

    /// The coin or token amount, for the kinds that have a single one.
    pub fn amount(&self) -> Option<u64> {
        match self {
            Self::Reward { amount }
            | Self::Transfer { amount, .. }
            | Self::Donate { amount }
            | Self::TransferToken { amount, .. } => Some(*amount),
            Self::CreateToken { .. } | Self::DistributeToken { .. } => None,
        }
    }

    /// The recipient, for `transfer` and `transfer_token`.
    pub fn to(&self) -> Option<&PublicKey> {
        match self {
            Self::Transfer { to, .. } | Self::TransferToken { to, .. } => Some(to),
            _ => None,
        }
    }

    /// The token, for `transfer_token` and `distribute_token`.
    pub fn token_id(&self) -> Option<&Hash32> {
        match self {
            Self::TransferToken { token_id, .. } | Self::DistributeToken { token_id, .. } => {
                Some(token_id)
            }
            _ => None,
        }
    }

    fn check_encodable(&self) -> CoreResult<()> {
        match self {
            Self::CreateToken { symbol, .. } => check_symbol_encodable("symbol", symbol),
            Self::DistributeToken { recipients, .. }
                if recipients.len() > usize::from(u16::MAX) =>
            {
                Err(CoreError::invalid(
                    "recipients",
                    format!(
                        "at most {} recipients can be encoded, got {}",
                        u16::MAX,
                        recipients.len()
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    fn encode(&self, w: &mut Writer) {
        match self {
            Self::Reward { amount } | Self::Donate { amount } => {
                w.u64(*amount);
            }
            Self::Transfer { to, amount } => {
                w.raw(to).u64(*amount);
            }
            Self::CreateToken { symbol, supply } => {
                w.bytes_u8(symbol.as_bytes()).u64(*supply);
            }
            Self::TransferToken {
                token_id,
                to,
                amount,
            } => {
                w.raw(token_id).raw(to).u64(*amount);
            }
            Self::DistributeToken {
                token_id,
                recipients,
            } => {
                w.raw(token_id).u16(recipients.len() as u16);
                for (pk, amount) in recipients {
                    w.raw(pk).u64(*amount);
                }
            }
        }
    }

    fn decode(tag: u8, r: &mut Reader<'_>) -> CoreResult<Self> {
        Ok(match tag {
            KIND_REWARD => Self::Reward {
                amount: r.u64("amount")?,
            },
            KIND_TRANSFER => Self::Transfer {
                to: r.array("to")?,
                amount: r.u64("amount")?,
            },
            KIND_DONATE => Self::Donate {
                amount: r.u64("amount")?,
            },
            KIND_CREATE_TOKEN => {
                let raw = r.bytes_u8("symbol", MIN_SYMBOL_LEN, MAX_SYMBOL_LEN)?;
                Self::CreateToken {
                    symbol: ascii_string(WHAT, "symbol", raw, is_symbol_byte)?,
                    supply: r.u64("supply")?,
                }
            }
            KIND_TRANSFER_TOKEN => Self::TransferToken {
                token_id: r.array("token_id")?,
                to: r.array("to")?,
                amount: r.u64("amount")?,
            },
            KIND_DISTRIBUTE_TOKEN => {
                let token_id = r.array("token_id")?;
                let n = r.count_u16("recipients", MAX_RECIPIENTS)?;
                // Bounded by MAX_RECIPIENTS, and the entries must be present:
                // check before allocating.
                if r.remaining() < n * 40 {
                    return Err(r.error(
                        DecodeReason::Truncated,
                        format!(
                            "recipients: {n} entries need {} bytes, {} left",
                            n * 40,
                            r.remaining()
                        ),
                    ));
                }
                let mut recipients = Vec::with_capacity(n);
                for _ in 0..n {
                    recipients.push((r.array("recipient")?, r.u64("recipient amount")?));
                }
                Self::DistributeToken {
                    token_id,
                    recipients,
                }
            }
            other => {
                return Err(r.error(
                    DecodeReason::UnknownKind,
                    format!("kind tag {other} is not one of 0..=5"),
                ));
            }
        })
    }
}

/// A signed transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Transaction {
    /// The chain this transaction is valid on (replay protection).
    pub chain_id: String,
    /// The signer's public key.
    pub sender: PublicKey,
    /// The sender's sequence number (the block height for a reward).
    pub nonce: u64,
    /// Coins paid to the block producer.
    pub fee: u64,
    /// What it does.
    pub body: TxBody,
    /// Ed25519 signature of [`Transaction::signing_bytes`] by `sender`.
    pub signature: Signature,
}

impl Transaction {
    /// Builds and signs a transaction with `key` (the sender is its public key).
    ///
    /// Only *encodability* is checked (a chain id of `[a-z0-9-]`, a symbol of
    /// printable ASCII, a recipient count that fits a `u16`): whether the
    /// transaction is *valid* is for the ledger to judge, so tools and tests can
    /// sign invalid ones.
    pub fn sign(
        key: &SecretKey,
        chain_id: &str,
        nonce: u64,
        fee: u64,
        body: TxBody,
    ) -> CoreResult<Self> {
        check_chain_id("chain_id", chain_id)?;
        body.check_encodable()?;
        let mut tx = Self {
            chain_id: chain_id.to_owned(),
            sender: key.public_key(),
            nonce,
            fee,
            body,
            signature: [0; 64],
        };
        tx.signature = key.sign(&tx.signing_bytes());
        Ok(tx)
    }

    /// The reward transaction of the block at `height` produced by `key`
    /// (nonce = height, fee = 0).
    pub fn reward(key: &SecretKey, chain_id: &str, height: u64, amount: u64) -> CoreResult<Self> {
        Self::sign(key, chain_id, height, 0, TxBody::Reward { amount })
    }

    /// The snake-case kind name.
    pub fn kind(&self) -> &'static str {
        self.body.kind()
    }

    fn encode_unsigned(&self, w: &mut Writer) {
        w.u8(TX_VERSION)
            .u8(self.body.tag())
            .bytes_u8(self.chain_id.as_bytes())
            .raw(&self.sender)
            .u64(self.nonce)
            .u64(self.fee);
        self.body.encode(w);
    }

    /// The length of [`Transaction::to_bytes`], without encoding.
    pub fn encoded_len(&self) -> usize {
        let body = match &self.body {
            TxBody::Reward { .. } | TxBody::Donate { .. } => 8,
            TxBody::Transfer { .. } => 40,
            TxBody::CreateToken { symbol, .. } => 1 + symbol.len().min(255) + 8,
            TxBody::TransferToken { .. } => 72,
            TxBody::DistributeToken { recipients, .. } => 34 + 40 * recipients.len(),
        };
        3 + self.chain_id.len().min(255) + 32 + 16 + body + 64
    }

    /// The signed bytes: `swarmmesh/tx/v1` + the encoding without the signature.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(TX_SIGNING_DOMAIN.len() + self.encoded_len());
        w.raw(TX_SIGNING_DOMAIN);
        self.encode_unsigned(&mut w);
        w.into_bytes()
    }

    /// Appends the canonical bytes (signature included) to `w`.
    pub fn encode(&self, w: &mut Writer) {
        self.encode_unsigned(w);
        w.raw(&self.signature);
    }

    /// [`Transaction::signing_bytes`] followed by the signature, from one
    /// encoding: `[..len - 64]` is the signed message and
    /// `[TX_SIGNING_DOMAIN.len()..]` is [`Transaction::to_bytes`] (what the id
    /// hashes). Validation uses it to encode each transaction once.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(TX_SIGNING_DOMAIN.len() + self.encoded_len());
        w.raw(TX_SIGNING_DOMAIN);
        self.encode(&mut w);
        w.into_bytes()
    }

    /// The canonical bytes, signature included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(self.encoded_len());
        self.encode(&mut w);
        w.into_bytes()
    }

    /// The id: SHA-256 of [`Transaction::to_bytes`].
    pub fn id(&self) -> Hash32 {
        sha256(&self.to_bytes())
    }

    /// Decodes canonical bytes, strictly: every defect is a
    /// [`CoreError::Decode`] with its [`DecodeReason`].
    pub fn decode(data: &[u8]) -> CoreResult<Self> {
        let mut r = Reader::new(WHAT, data);
        let tx = Self::read(&mut r)?;
        r.finish()?;
        Ok(tx)
    }

    /// Reads one transaction from `r` (trailing bytes are the caller's to check).
    pub(crate) fn read(r: &mut Reader<'_>) -> CoreResult<Self> {
        if r.remaining() > MAX_TX_BYTES {
            return Err(r.error(
                DecodeReason::LengthLimit,
                format!(
                    "{} bytes, a transaction has at most {MAX_TX_BYTES}",
                    r.remaining()
                ),
            ));
        }
        let version = r.u8("version")?;
        if version != TX_VERSION {
            return Err(r.error(
                DecodeReason::UnknownVersion,
                format!("version {version}, this build reads {TX_VERSION}"),
            ));
        }
        let tag = r.u8("kind")?;
        if tag > KIND_DISTRIBUTE_TOKEN {
            return Err(r.error(
                DecodeReason::UnknownKind,
                format!("kind tag {tag} is not one of 0..=5"),
            ));
        }
        let raw = r.bytes_u8("chain_id", MIN_CHAIN_ID_LEN, MAX_CHAIN_ID_LEN)?;
        let chain_id = ascii_string(WHAT, "chain_id", raw, is_chain_id_byte)?;
        let sender = r.array("sender")?;
        let nonce = r.u64("nonce")?;
        let fee = r.u64("fee")?;
        let body = TxBody::decode(tag, r)?;
        let signature = r.array("signature")?;
        Ok(Self {
            chain_id,
            sender,
            nonce,
            fee,
            body,
            signature,
        })
    }

    /// Whether the signature is valid for `sender` (single verification; the
    /// ledger verifies blocks in batches).
    pub fn verify_signature(&self) -> bool {
        crate::crypto::verify(&self.sender, &self.signing_bytes(), &self.signature)
    }
}

/// The id of the token `symbol` created by `creator`:
/// `sha256("swarmmesh/token/v1" || creator || len(symbol) as u8 || symbol)`.
///
/// Symbols are at most 12 bytes; a longer string is hashed with its length
/// capped at 255 (it can name no token: no transaction can carry it).
pub fn token_id(creator: &PublicKey, symbol: &str) -> Hash32 {
    let s = symbol.as_bytes();
    let s = &s[..s.len().min(255)];
    sha256_parts(&[TOKEN_ID_DOMAIN, creator, &[s.len() as u8], s])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn key(i: u8) -> SecretKey {
        SecretKey::from_seed(&[i; 32])
    }

    pub(crate) fn sample_bodies() -> Vec<TxBody> {
        vec![
            TxBody::Reward { amount: 50 },
            TxBody::Transfer {
                to: [7; 32],
                amount: 10,
            },
            TxBody::Donate { amount: 3 },
            TxBody::CreateToken {
                symbol: "ABC".into(),
                supply: 1_000,
            },
            TxBody::TransferToken {
                token_id: [9; 32],
                to: [8; 32],
                amount: 5,
            },
            TxBody::DistributeToken {
                token_id: [9; 32],
                recipients: vec![([1; 32], 1), ([2; 32], 2)],
            },
        ]
    }

    #[test]
    fn every_kind_round_trips_and_verifies() {
        for body in sample_bodies() {
            let kind = body.kind();
            let tx = Transaction::sign(&key(1), "swarm-devnet", 4, 2, body).unwrap();
            assert_eq!(tx.kind(), kind);
            let bytes = tx.to_bytes();
            assert_eq!(Transaction::decode(&bytes).unwrap(), tx);
            assert_eq!(tx.encoded_len(), bytes.len());
            assert_eq!(tx.id(), sha256(&bytes));
            assert!(tx.verify_signature());
            assert!(tx.signing_bytes().starts_with(TX_SIGNING_DOMAIN));
            let signed = tx.signed_bytes();
            assert_eq!(signed[..signed.len() - 64], tx.signing_bytes()[..]);
            assert_eq!(signed[TX_SIGNING_DOMAIN.len()..], tx.to_bytes()[..]);
            assert_eq!(
                &tx.signing_bytes()[TX_SIGNING_DOMAIN.len()..],
                &bytes[..bytes.len() - 64]
            );
        }
    }

    #[test]
    fn signature_binds_every_field() {
        let tx =
            Transaction::sign(&key(1), "swarm-devnet", 4, 2, TxBody::Donate { amount: 3 }).unwrap();
        let mut other = tx.clone();
        other.fee = 3;
        assert!(!other.verify_signature());
        let mut other = tx.clone();
        other.chain_id = "swarm-testnet".into();
        assert!(!other.verify_signature());
        let mut other = tx;
        other.body = TxBody::Donate { amount: 4 };
        assert!(!other.verify_signature());
    }

    #[test]
    fn sign_checks_encodability_only() {
        let k = key(2);
        assert!(Transaction::sign(&k, "Bad", 0, 0, TxBody::Donate { amount: 1 }).is_err());
        assert!(Transaction::sign(&k, "", 0, 0, TxBody::Donate { amount: 1 }).is_err());
        // An invalid but encodable symbol signs (bad-token-symbol is the ledger's).
        let tx = Transaction::sign(
            &k,
            "c",
            0,
            0,
            TxBody::CreateToken {
                symbol: "low!".into(),
                supply: 1,
            },
        )
        .unwrap();
        assert_eq!(Transaction::decode(&tx.to_bytes()).unwrap(), tx);
        assert!(
            Transaction::sign(
                &k,
                "c",
                0,
                0,
                TxBody::CreateToken {
                    symbol: "TOOLONGSYMBOL".into(),
                    supply: 1
                }
            )
            .is_err()
        );
        // Zero amounts and fees sign too.
        assert!(Transaction::sign(&k, "c", 0, 0, TxBody::Donate { amount: 0 }).is_ok());
    }

    fn code(data: &[u8]) -> String {
        Transaction::decode(data).unwrap_err().code()
    }

    #[test]
    fn decode_reasons() {
        let tx =
            Transaction::sign(&key(1), "swarm-devnet", 4, 2, TxBody::Donate { amount: 3 }).unwrap();
        let good = tx.to_bytes();
        assert_eq!(code(&[]), "decode.truncated");
        assert_eq!(code(&good[..good.len() - 1]), "decode.truncated");
        let mut long = good.clone();
        long.push(0);
        assert_eq!(code(&long), "decode.trailing_bytes");
        let mut bad = good.clone();
        bad[0] = 2;
        assert_eq!(code(&bad), "decode.unknown_version");
        let mut bad = good.clone();
        bad[1] = 6;
        assert_eq!(code(&bad), "decode.unknown_kind");
        let mut bad = good.clone();
        bad[2] = 0; // chain id length 0
        assert_eq!(code(&bad), "decode.length_limit");
        let mut bad = good.clone();
        bad[2] = 33;
        assert_eq!(code(&bad), "decode.length_limit");
        let mut bad = good.clone();
        bad[3] = b'S'; // upper case in the chain id
        assert_eq!(code(&bad), "decode.non_canonical");
        let mut bad = good.clone();
        bad[3] = 0xc3; // not ASCII
        assert_eq!(code(&bad), "decode.non_canonical");
        assert_eq!(code(&vec![1u8; MAX_TX_BYTES + 1]), "decode.length_limit");
    }

    #[test]
    fn symbol_and_recipient_limits() {
        let k = key(3);
        let tx = Transaction::sign(
            &k,
            "c",
            0,
            0,
            TxBody::CreateToken {
                symbol: "AB".into(),
                supply: 1,
            },
        )
        .unwrap();
        let good = tx.to_bytes();
        // version, kind, len, "c", sender[32], nonce[8], fee[8], then the symbol.
        let at = 3 + 1 + 32 + 16;
        let mut bad = good.clone();
        bad[at + 1] = b' ';
        assert_eq!(code(&bad), "decode.non_canonical");
        let mut bad = good.clone();
        bad[at + 1] = 0x80;
        assert_eq!(code(&bad), "decode.non_canonical");
        let mut bad = good;
        bad[at] = 13;
        assert_eq!(code(&bad), "decode.length_limit");

        let many = |n: usize| TxBody::DistributeToken {
            token_id: [1; 32],
            recipients: (0..n).map(|i| ([i as u8; 32], 1)).collect(),
        };
        let ok = Transaction::sign(&k, "c", 0, 0, many(MAX_RECIPIENTS)).unwrap();
        assert_eq!(Transaction::decode(&ok.to_bytes()).unwrap(), ok);
        // Over the limit: signs (too-many-recipients is the ledger's), never decodes.
        let over = Transaction::sign(&k, "c", 0, 0, many(MAX_RECIPIENTS + 1)).unwrap();
        assert_eq!(code(&over.to_bytes()), "decode.length_limit");
        // A count promising more entries than present: truncated, no allocation.
        let mut bytes = ok.to_bytes();
        bytes.truncate(bytes.len() - 64 - 40);
        assert_eq!(code(&bytes), "decode.truncated");
    }

    #[test]
    fn token_id_layout() {
        let creator = [5u8; 32];
        let mut m = TOKEN_ID_DOMAIN.to_vec();
        m.extend_from_slice(&creator);
        m.push(3);
        m.extend_from_slice(b"ABC");
        assert_eq!(token_id(&creator, "ABC"), sha256(&m));
        assert_ne!(token_id(&creator, "ABC"), token_id(&[6; 32], "ABC"));
        assert_ne!(token_id(&creator, "ABC"), token_id(&creator, "ABD"));
    }

    pub(crate) fn arb_body() -> impl Strategy<Value = TxBody> {
        let pk = proptest::array::uniform32(any::<u8>());
        prop_oneof![
            any::<u64>().prop_map(|amount| TxBody::Reward { amount }),
            (pk, any::<u64>()).prop_map(|(to, amount)| TxBody::Transfer { to, amount }),
            any::<u64>().prop_map(|amount| TxBody::Donate { amount }),
            ("[!-~]{1,12}", any::<u64>())
                .prop_map(|(symbol, supply)| TxBody::CreateToken { symbol, supply }),
            (pk, pk, any::<u64>()).prop_map(|(token_id, to, amount)| {
                TxBody::TransferToken {
                    token_id,
                    to,
                    amount,
                }
            }),
            (pk, proptest::collection::vec((pk, any::<u64>()), 0..8)).prop_map(
                |(token_id, recipients)| TxBody::DistributeToken {
                    token_id,
                    recipients
                }
            ),
        ]
    }

    pub(crate) fn arb_tx() -> impl Strategy<Value = Transaction> {
        (
            "[a-z0-9-]{1,32}",
            proptest::array::uniform32(any::<u8>()),
            any::<u64>(),
            any::<u64>(),
            arb_body(),
            proptest::collection::vec(any::<u8>(), 64),
        )
            .prop_map(|(chain_id, sender, nonce, fee, body, sig)| Transaction {
                chain_id,
                sender,
                nonce,
                fee,
                body,
                signature: sig.try_into().unwrap_or([0; 64]),
            })
    }

    proptest! {
        #[test]
        fn round_trip(tx in arb_tx()) {
            let bytes = tx.to_bytes();
            prop_assert_eq!(tx.encoded_len(), bytes.len());
            prop_assert_eq!(Transaction::decode(&bytes).unwrap(), tx.clone());
            prop_assert_eq!(tx.id(), sha256(&bytes));
        }

        #[test]
        fn decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = Transaction::decode(&data);
        }

        #[test]
        fn decode_of_mutated_bytes_never_panics_and_reencodes(
            tx in arb_tx(), i in any::<usize>(), b in any::<u8>()
        ) {
            let mut bytes = tx.to_bytes();
            let i = i % bytes.len();
            bytes[i] = b;
            if let Ok(back) = Transaction::decode(&bytes) {
                // Canonical: whatever decodes re-encodes to the same bytes.
                prop_assert_eq!(back.to_bytes(), bytes);
            }
        }
    }
}
