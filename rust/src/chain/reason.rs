//! Why a transaction or a block is invalid: the reason codes of the ledger.
//!
//! Every rejection of [`crate::chain::validate`] and [`crate::chain::state`]
//! carries one of these; `code()` is the stable string of issue 3 that Python and
//! the tests match on (`"bad-nonce"`, `"bad-tx"`, ...). A block rejected because
//! of one of its transactions is [`BlockReason::BadTx`], which keeps the index of
//! the first failing transaction and its [`TxReason`].

/// Why a transaction is invalid (against a ledger state, or in itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxReason {
    /// The transaction cannot be judged at all: a reward outside the first slot
    /// of a block, a reward submitted on its own, an undecodable encoding.
    Malformed,
    /// The transaction's chain id is not this chain's (replay protection).
    BadChainId,
    /// The Ed25519 signature does not verify under the sender's key.
    BadSignature,
    /// The nonce is not the sender's next nonce (reused, or a gap).
    BadNonce,
    /// The sender's balance does not cover amount + fee.
    InsufficientFunds,
    /// An amount (or token supply, or a recipient list) is zero.
    ZeroAmount,
    /// An amount sum or a credited balance would exceed `u64::MAX`.
    AmountOverflow,
    /// The fee is below the chain's minimum fee.
    FeeTooLow,
    /// The same transaction (same id) was already applied in this sequence.
    Duplicate,
    /// The token id names no token.
    UnknownToken,
    /// A token with this id (creator + symbol) already exists.
    TokenExists,
    /// The symbol is not 1 to 12 characters of `[A-Z0-9]`.
    BadTokenSymbol,
    /// The sender's token balance does not cover the amount.
    TokenInsufficient,
    /// A distribution names more recipients than the limit.
    TooManyRecipients,
    /// Only the token's owner may distribute it.
    NotTokenOwner,
}

impl TxReason {
    /// Every reason, in declaration order (for tests and tables).
    pub const ALL: [Self; 15] = [
        Self::Malformed,
        Self::BadChainId,
        Self::BadSignature,
        Self::BadNonce,
        Self::InsufficientFunds,
        Self::ZeroAmount,
        Self::AmountOverflow,
        Self::FeeTooLow,
        Self::Duplicate,
        Self::UnknownToken,
        Self::TokenExists,
        Self::BadTokenSymbol,
        Self::TokenInsufficient,
        Self::TooManyRecipients,
        Self::NotTokenOwner,
    ];

    /// The stable reason code, as exposed to Python.
    pub fn code(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::BadChainId => "bad-chain-id",
            Self::BadSignature => "bad-signature",
            Self::BadNonce => "bad-nonce",
            Self::InsufficientFunds => "insufficient-funds",
            Self::ZeroAmount => "zero-amount",
            Self::AmountOverflow => "amount-overflow",
            Self::FeeTooLow => "fee-too-low",
            Self::Duplicate => "duplicate",
            Self::UnknownToken => "unknown-token",
            Self::TokenExists => "token-exists",
            Self::BadTokenSymbol => "bad-token-symbol",
            Self::TokenInsufficient => "token-insufficient",
            Self::TooManyRecipients => "too-many-recipients",
            Self::NotTokenOwner => "not-token-owner",
        }
    }
}

impl std::fmt::Display for TxReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl std::error::Error for TxReason {}

/// Why a block is invalid (or, for [`BlockReason::TimeTooNew`], not yet
/// acceptable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockReason {
    /// The header id is above the target, or the target is not the chain's.
    BadPow,
    /// The header's `prev_id` is not the id of the given parent.
    BadPrev,
    /// The height is not the parent's height + 1.
    BadHeight,
    /// The Merkle root does not match the transaction ids.
    BadMerkle,
    /// Two transactions of the block have the same id.
    DuplicateTx,
    /// The first transaction is not a correct reward (kind, producer, height,
    /// fee, exact amount), or a reward appears elsewhere.
    BadReward,
    /// The timestamp is not later than the median time past.
    TimeTooOld,
    /// The timestamp is too far ahead of the local clock: defer and re-check
    /// later, never remember the block as invalid.
    TimeTooNew,
    /// Too many transactions, or too many bytes (block or transaction).
    Oversize,
    /// The header version is not one this build validates.
    BadVersion,
    /// The header's chain id is not this chain's.
    BadChainId,
    /// Transaction `index` is invalid for `reason`.
    BadTx {
        /// Position of the first failing transaction in the block.
        index: usize,
        /// Why it fails.
        reason: TxReason,
    },
    /// The block cannot be decoded.
    Malformed,
}

impl BlockReason {
    /// The stable reason code, as exposed to Python (`"bad-tx"` for
    /// [`BlockReason::BadTx`]; see [`BlockReason::tx_reason`]).
    pub fn code(self) -> &'static str {
        match self {
            Self::BadPow => "bad-pow",
            Self::BadPrev => "bad-prev",
            Self::BadHeight => "bad-height",
            Self::BadMerkle => "bad-merkle",
            Self::DuplicateTx => "duplicate-tx",
            Self::BadReward => "bad-reward",
            Self::TimeTooOld => "time-too-old",
            Self::TimeTooNew => "time-too-new",
            Self::Oversize => "oversize",
            Self::BadVersion => "bad-version",
            Self::BadChainId => "bad-chain-id",
            Self::BadTx { .. } => "bad-tx",
            Self::Malformed => "malformed",
        }
    }

    /// The inner transaction reason of [`BlockReason::BadTx`].
    pub fn tx_reason(self) -> Option<TxReason> {
        match self {
            Self::BadTx { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// The index of the failing transaction of [`BlockReason::BadTx`].
    pub fn tx_index(self) -> Option<usize> {
        match self {
            Self::BadTx { index, .. } => Some(index),
            _ => None,
        }
    }

    /// Whether the block may become valid later (only [`BlockReason::TimeTooNew`]):
    /// such a block is deferred, never remembered as invalid.
    pub fn is_deferrable(self) -> bool {
        matches!(self, Self::TimeTooNew)
    }
}

impl std::fmt::Display for BlockReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadTx { index, reason } => write!(f, "bad-tx (transaction {index}: {reason})"),
            other => f.write_str(other.code()),
        }
    }
}

impl std::error::Error for BlockReason {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tx_codes_are_the_issue_strings() {
        let codes: Vec<&str> = TxReason::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(
            codes,
            [
                "malformed",
                "bad-chain-id",
                "bad-signature",
                "bad-nonce",
                "insufficient-funds",
                "zero-amount",
                "amount-overflow",
                "fee-too-low",
                "duplicate",
                "unknown-token",
                "token-exists",
                "bad-token-symbol",
                "token-insufficient",
                "too-many-recipients",
                "not-token-owner",
            ]
        );
        assert_eq!(TxReason::BadNonce.to_string(), "bad-nonce");
    }

    #[test]
    fn block_codes_are_the_issue_strings() {
        let bad_tx = BlockReason::BadTx {
            index: 3,
            reason: TxReason::BadNonce,
        };
        let all = [
            (BlockReason::BadPow, "bad-pow"),
            (BlockReason::BadPrev, "bad-prev"),
            (BlockReason::BadHeight, "bad-height"),
            (BlockReason::BadMerkle, "bad-merkle"),
            (BlockReason::DuplicateTx, "duplicate-tx"),
            (BlockReason::BadReward, "bad-reward"),
            (BlockReason::TimeTooOld, "time-too-old"),
            (BlockReason::TimeTooNew, "time-too-new"),
            (BlockReason::Oversize, "oversize"),
            (BlockReason::BadVersion, "bad-version"),
            (BlockReason::BadChainId, "bad-chain-id"),
            (bad_tx, "bad-tx"),
            (BlockReason::Malformed, "malformed"),
        ];
        for (r, c) in all {
            assert_eq!(r.code(), c);
            assert_eq!(r.is_deferrable(), c == "time-too-new");
            assert_eq!(r.tx_reason().is_some(), c == "bad-tx");
        }
        assert_eq!(bad_tx.tx_reason(), Some(TxReason::BadNonce));
        assert_eq!(bad_tx.tx_index(), Some(3));
        assert_eq!(BlockReason::BadPow.tx_index(), None);
        assert_eq!(bad_tx.to_string(), "bad-tx (transaction 3: bad-nonce)");
        assert_eq!(BlockReason::BadMerkle.to_string(), "bad-merkle");
    }
}
