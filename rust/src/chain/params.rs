//! The consensus parameters of one chain.
//!
//! Every node of a chain must use the same [`ChainParams`]: they decide which
//! blocks are valid. [`ChainParams::new`] refuses values that cannot work (an
//! empty chain id, a zero payout divisor, limits above the codec's) with an
//! `invalid_argument` error naming the field.

use crate::chain::{Hash32, MAX_BLOCK_BYTES, MAX_BLOCK_TXS, check_chain_id};
use crate::error::{CoreError, CoreResult};

/// The devnet proof-of-work target: the top 12 bits of the id are zero, so a
/// block is mined in about 4 096 hashes (a few milliseconds).
pub const DEVNET_TARGET: Hash32 = {
    let mut t = [0xff_u8; 32];
    t[0] = 0x00;
    t[1] = 0x0f;
    t
};

/// Default tolerance for a block timestamp ahead of the local clock: 2 h.
pub const DEFAULT_MAX_FUTURE_MS: u64 = 7_200_000;
/// Default number of previous blocks whose median timestamp a block must exceed.
pub const DEFAULT_MEDIAN_SPAN: usize = 11;
/// Longest median span accepted (the caller keeps that many timestamps).
pub const MAX_MEDIAN_SPAN: usize = 1_000;

/// The consensus parameters of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChainParams {
    /// The chain id every transaction and header must carry.
    pub chain_id: String,
    /// The smallest fee a (non-reward) transaction may pay.
    pub min_fee: u64,
    /// Coins created by every block, paid to its producer.
    pub block_subsidy: u64,
    /// Each block pays its producer `floor(pool_balance / pool_payout_divisor)`
    /// from the reward pool (the balance before the block).
    pub pool_payout_divisor: u64,
    /// The proof-of-work target (big-endian 256-bit): every header must carry
    /// exactly this target and have an id `<=` it.
    pub target: Hash32,
    /// How far ahead of the local clock a timestamp may be, in ms.
    pub max_future_ms: u64,
    /// How many previous timestamps the median time past spans.
    pub median_span: usize,
    /// The most transactions (reward included) a block may hold.
    pub max_block_txs: usize,
    /// The most bytes a block's canonical encoding may have.
    pub max_block_bytes: usize,
}

impl ChainParams {
    /// Checked parameters: every field is validated (see [`ChainParams::validate`]).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        chain_id: impl Into<String>,
        min_fee: u64,
        block_subsidy: u64,
        pool_payout_divisor: u64,
        target: Hash32,
        max_future_ms: u64,
        median_span: usize,
        max_block_txs: usize,
        max_block_bytes: usize,
    ) -> CoreResult<Self> {
        let p = Self {
            chain_id: chain_id.into(),
            min_fee,
            block_subsidy,
            pool_payout_divisor,
            target,
            max_future_ms,
            median_span,
            max_block_txs,
            max_block_bytes,
        };
        p.validate()?;
        Ok(p)
    }

    /// Devnet parameters for `chain_id`: min fee 1, subsidy 50, payout 1/100 of
    /// the pool, [`DEVNET_TARGET`], 2 h future tolerance, median of 11, the
    /// codec's block limits.
    pub fn devnet(chain_id: impl Into<String>) -> CoreResult<Self> {
        Self::new(
            chain_id,
            1,
            50,
            100,
            DEVNET_TARGET,
            DEFAULT_MAX_FUTURE_MS,
            DEFAULT_MEDIAN_SPAN,
            MAX_BLOCK_TXS,
            MAX_BLOCK_BYTES,
        )
    }

    /// Refuses parameters that cannot work, naming the field.
    pub fn validate(&self) -> CoreResult<()> {
        check_chain_id("chain_id", &self.chain_id)?;
        if self.pool_payout_divisor == 0 {
            return Err(CoreError::invalid("pool_payout_divisor", "must be >= 1"));
        }
        if self.target == [0; 32] {
            return Err(CoreError::invalid(
                "target",
                "must not be zero (no block could meet it)",
            ));
        }
        if !(1..=MAX_MEDIAN_SPAN).contains(&self.median_span) {
            return Err(CoreError::invalid(
                "median_span",
                format!("must be in 1..={MAX_MEDIAN_SPAN}, got {}", self.median_span),
            ));
        }
        if !(1..=MAX_BLOCK_TXS).contains(&self.max_block_txs) {
            return Err(CoreError::invalid(
                "max_block_txs",
                format!(
                    "must be in 1..={MAX_BLOCK_TXS} (the codec's limit), got {}",
                    self.max_block_txs
                ),
            ));
        }
        if !(1..=MAX_BLOCK_BYTES).contains(&self.max_block_bytes) {
            return Err(CoreError::invalid(
                "max_block_bytes",
                format!(
                    "must be in 1..={MAX_BLOCK_BYTES} (the codec's limit), got {}",
                    self.max_block_bytes
                ),
            ));
        }
        Ok(())
    }

    /// The pool payout of a block whose parent state has `pool_balance` in the
    /// pool: `floor(pool_balance / pool_payout_divisor)`.
    pub fn pool_payout(&self, pool_balance: u64) -> u64 {
        // validate() guarantees a non-zero divisor; max(1) keeps this total for
        // a hand-built struct.
        pool_balance / self.pool_payout_divisor.max(1)
    }

    /// The exact reward amount of a block: subsidy + `fees` + pool payout, or
    /// `None` if the sum exceeds `u64::MAX`.
    pub fn reward_amount(&self, fees: u64, pool_balance: u64) -> Option<u64> {
        self.block_subsidy
            .checked_add(fees)?
            .checked_add(self.pool_payout(pool_balance))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devnet_is_valid_and_has_the_contract_defaults() {
        let p = ChainParams::devnet("swarm-devnet").unwrap();
        assert_eq!(p.min_fee, 1);
        assert_eq!(p.block_subsidy, 50);
        assert_eq!(p.pool_payout_divisor, 100);
        assert_eq!(p.max_future_ms, 7_200_000);
        assert_eq!(p.median_span, 11);
        assert_eq!(p.target[0], 0);
        assert_eq!(p.target[1], 0x0f);
        assert!(p.target[2..].iter().all(|b| *b == 0xff));
    }

    #[test]
    fn each_bad_field_is_named() {
        let ok = ChainParams::devnet("x").unwrap();
        let cases: Vec<(ChainParams, &str)> = vec![
            (
                ChainParams {
                    chain_id: String::new(),
                    ..ok.clone()
                },
                "chain_id",
            ),
            (
                ChainParams {
                    chain_id: "Upper".into(),
                    ..ok.clone()
                },
                "chain_id",
            ),
            (
                ChainParams {
                    chain_id: "a".repeat(33),
                    ..ok.clone()
                },
                "chain_id",
            ),
            (
                ChainParams {
                    pool_payout_divisor: 0,
                    ..ok.clone()
                },
                "pool_payout_divisor",
            ),
            (
                ChainParams {
                    target: [0; 32],
                    ..ok.clone()
                },
                "target",
            ),
            (
                ChainParams {
                    median_span: 0,
                    ..ok.clone()
                },
                "median_span",
            ),
            (
                ChainParams {
                    max_block_txs: MAX_BLOCK_TXS + 1,
                    ..ok.clone()
                },
                "max_block_txs",
            ),
            (
                ChainParams {
                    max_block_bytes: 0,
                    ..ok.clone()
                },
                "max_block_bytes",
            ),
        ];
        for (p, field) in cases {
            match p.validate() {
                Err(CoreError::InvalidArgument { arg, .. }) => assert_eq!(arg, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn reward_arithmetic_floors_and_checks_overflow() {
        let p = ChainParams::devnet("x").unwrap();
        assert_eq!(p.pool_payout(0), 0);
        assert_eq!(p.pool_payout(99), 0);
        assert_eq!(p.pool_payout(199), 1);
        assert_eq!(p.reward_amount(7, 1_000), Some(50 + 7 + 10));
        assert_eq!(p.reward_amount(u64::MAX - 50, 0), Some(u64::MAX));
        assert_eq!(p.reward_amount(u64::MAX - 50, 100), None);
        assert_eq!(p.reward_amount(u64::MAX, 0), None);
    }
}
