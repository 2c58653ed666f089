//! Block and transaction validation: cheap checks first, then every signature
//! in one batch, then the state transition.
//!
//! The order of [`Ledger::connect`] (each step runs only if the previous ones
//! passed, and the first failure is the reason):
//!
//! 1. sizes: transaction count, block bytes, transaction bytes (`oversize`);
//! 2. the header against its parent ([`check_header`]): version, chain id,
//!    proof of work with the chain's exact target, `prev_id`, height, timestamp
//!    after the median time past and at most `max_future_ms` ahead of `now_ms`
//!    (`time-too-new` is the one reason a caller defers instead of rejecting);
//! 3. the Merkle root (over `threads` workers for large blocks), then
//!    duplicate transaction ids;
//! 4. the reward: first and only first, by the producer, nonce = height, fee 0,
//!    amount exactly `subsidy + fees + floor(pool / divisor)`;
//! 5. every signature, by Ed25519 batch verification over `threads` workers;
//! 6. the state transition, transaction by transaction ([`apply_tx`]) on an
//!    [`Overlay`], so a failing block leaves the ledger untouched.

use std::collections::HashSet;

use crate::chain::params::ChainParams;
use crate::chain::reason::{BlockReason, TxReason};
use crate::chain::state::{Account, Delta, Ledger, Overlay, Token, Undo};
use crate::chain::{
    Block, BlockHeader, Hash32, MAX_RECIPIENTS, MAX_TX_BYTES, PublicKey, Transaction, TxBody,
    block::HEADER_VERSION, is_valid_symbol, merkle_root_with_threads, token_id,
    tx::TX_SIGNING_DOMAIN,
};
use crate::crypto::{self, BatchItem};

/// Checks `header` against its `parent`, the median time past of the parent's
/// chain and the local clock: version, chain id, proof of work, link, height,
/// timestamp. No state is needed.
pub fn check_header(
    params: &ChainParams,
    header: &BlockHeader,
    parent: &BlockHeader,
    median_time_past: u64,
    now_ms: u64,
) -> Result<(), BlockReason> {
    if header.version != HEADER_VERSION {
        return Err(BlockReason::BadVersion);
    }
    if header.chain_id != params.chain_id {
        return Err(BlockReason::BadChainId);
    }
    if header.target != params.target || !header.meets_target() {
        return Err(BlockReason::BadPow);
    }
    if header.prev_id != parent.id() {
        return Err(BlockReason::BadPrev);
    }
    if parent.height.checked_add(1) != Some(header.height) {
        return Err(BlockReason::BadHeight);
    }
    if header.timestamp_ms <= median_time_past {
        return Err(BlockReason::TimeTooOld);
    }
    if header.timestamp_ms > now_ms.saturating_add(params.max_future_ms) {
        return Err(BlockReason::TimeTooNew);
    }
    Ok(())
}

/// The encoded form of a block's transactions, computed once: each
/// transaction's [`Transaction::signed_bytes`] (its signed message and, after
/// the domain, its canonical bytes) and its id.
struct Encoded {
    ids: Vec<Hash32>,
    signed: Vec<Vec<u8>>,
}

impl Encoded {
    /// Encodes every transaction; `oversize` if one transaction or the whole
    /// block is over its limit.
    fn of(params: &ChainParams, block: &Block) -> Result<Self, BlockReason> {
        let mut ids = Vec::with_capacity(block.txs.len());
        let mut signed = Vec::with_capacity(block.txs.len());
        // Block layout: header, u32 count, then a u32 length before each tx.
        let mut size = block.header.encoded_len() + 4;
        for tx in &block.txs {
            let both = tx.signed_bytes();
            let bytes = &both[TX_SIGNING_DOMAIN.len()..];
            if bytes.len() > MAX_TX_BYTES {
                return Err(BlockReason::Oversize);
            }
            size += 4 + bytes.len();
            if size > params.max_block_bytes {
                return Err(BlockReason::Oversize);
            }
            ids.push(crypto::sha256(bytes));
            signed.push(both);
        }
        Ok(Self { ids, signed })
    }

    /// The signed message of each transaction.
    fn messages(&self) -> impl Iterator<Item = &[u8]> {
        self.signed
            .iter()
            .map(|b| &b[..b.len() - crypto::SIGNATURE_LEN])
    }
}

/// Every stateless check of a block (steps 1 to 5 of the module docs) given
/// the pool balance before it (for the exact reward amount).
pub fn check_block(
    params: &ChainParams,
    block: &Block,
    parent: &BlockHeader,
    median_time_past: u64,
    now_ms: u64,
    pool_before: u64,
    threads: usize,
) -> Result<(), BlockReason> {
    if block.txs.len() > params.max_block_txs {
        return Err(BlockReason::Oversize);
    }
    let enc = Encoded::of(params, block)?;
    check_header(params, &block.header, parent, median_time_past, now_ms)?;
    if merkle_root_with_threads(&enc.ids, threads) != block.header.merkle_root {
        return Err(BlockReason::BadMerkle);
    }
    let mut seen = HashSet::with_capacity(enc.ids.len());
    if !enc.ids.iter().all(|id| seen.insert(id)) {
        return Err(BlockReason::DuplicateTx);
    }
    check_reward(params, block, pool_before)?;
    check_signatures(&block.txs, enc.messages(), threads).map_err(|index| BlockReason::BadTx {
        index,
        reason: TxReason::BadSignature,
    })
}

/// The reward rule: `txs[0]` is the only reward, by the producer, with
/// nonce = height, fee 0 and the exact amount.
fn check_reward(params: &ChainParams, block: &Block, pool_before: u64) -> Result<(), BlockReason> {
    let Some((reward, rest)) = block.txs.split_first() else {
        return Err(BlockReason::BadReward);
    };
    let mut fees: u64 = 0;
    for (i, tx) in rest.iter().enumerate() {
        if matches!(tx.body, TxBody::Reward { .. }) {
            return Err(BlockReason::BadReward);
        }
        fees = fees.checked_add(tx.fee).ok_or(BlockReason::BadTx {
            index: i + 1,
            reason: TxReason::AmountOverflow,
        })?;
    }
    let TxBody::Reward { amount } = reward.body else {
        return Err(BlockReason::BadReward);
    };
    let expected = params
        .reward_amount(fees, pool_before)
        .ok_or(BlockReason::BadReward)?;
    if reward.sender != block.header.producer
        || reward.nonce != block.header.height
        || reward.fee != 0
        || amount != expected
    {
        return Err(BlockReason::BadReward);
    }
    Ok(())
}

/// Batch-verifies every signature; `Err(index)` of the first invalid one.
fn check_signatures<'a>(
    txs: &'a [Transaction],
    messages: impl Iterator<Item = &'a [u8]>,
    threads: usize,
) -> Result<(), usize> {
    let items: Vec<BatchItem<'_>> = txs
        .iter()
        .zip(messages)
        .map(|(tx, msg)| BatchItem {
            public_key: &tx.sender,
            msg,
            sig: &tx.signature,
        })
        .collect();
    match crypto::verify_batch(&items, threads)
        .iter()
        .position(|ok| !ok)
    {
        Some(i) => Err(i),
        None => Ok(()),
    }
}

/// Applies the (already checked) reward transaction: the producer is credited
/// and the payout leaves the pool.
fn apply_reward(
    ov: &mut Overlay<'_>,
    params: &ChainParams,
    tx: &Transaction,
) -> Result<(), TxReason> {
    if tx.chain_id != params.chain_id {
        return Err(TxReason::BadChainId);
    }
    let TxBody::Reward { amount } = tx.body else {
        return Err(TxReason::Malformed);
    };
    let pool = ov.pool();
    let mut producer = ov.account(&tx.sender);
    producer.balance = producer
        .balance
        .checked_add(amount)
        .ok_or(TxReason::AmountOverflow)?;
    ov.set_account(tx.sender, producer);
    ov.set_pool(pool - params.pool_payout(pool));
    Ok(())
}

/// Applies one non-reward transaction to `ov`, or leaves `ov` untouched and
/// says why it is invalid. The checks run in this order: chain id, kind (a
/// reward is `malformed` here), fee, nonce, zero amounts, arithmetic overflow,
/// funds for amount + fee, then the token rules. The signature is the
/// caller's (it is verified in batches).
pub fn apply_tx(
    ov: &mut Overlay<'_>,
    params: &ChainParams,
    tx: &Transaction,
) -> Result<(), TxReason> {
    if tx.chain_id != params.chain_id {
        return Err(TxReason::BadChainId);
    }
    if matches!(tx.body, TxBody::Reward { .. }) {
        return Err(TxReason::Malformed);
    }
    if tx.fee < params.min_fee {
        return Err(TxReason::FeeTooLow);
    }
    let sender = ov.account(&tx.sender);
    if tx.nonce != sender.nonce {
        return Err(TxReason::BadNonce);
    }
    let nonce = sender.nonce.checked_add(1).ok_or(TxReason::BadNonce)?;
    // Coins the transaction moves out of the sender besides the fee.
    let moved = match &tx.body {
        TxBody::Transfer { amount, .. } | TxBody::Donate { amount } => *amount,
        _ => 0,
    };
    match &tx.body {
        TxBody::Transfer { amount, .. }
        | TxBody::Donate { amount }
        | TxBody::TransferToken { amount, .. }
            if *amount == 0 =>
        {
            return Err(TxReason::ZeroAmount);
        }
        TxBody::CreateToken { supply: 0, .. } => return Err(TxReason::ZeroAmount),
        TxBody::DistributeToken { recipients, .. }
            if recipients.is_empty() || recipients.iter().any(|(_, n)| *n == 0) =>
        {
            return Err(TxReason::ZeroAmount);
        }
        _ => {}
    }
    let cost = moved.checked_add(tx.fee).ok_or(TxReason::AmountOverflow)?;
    if sender.balance < cost {
        return Err(TxReason::InsufficientFunds);
    }
    let debited = Account {
        balance: sender.balance - cost,
        nonce,
    };
    match &tx.body {
        TxBody::Reward { .. } => Err(TxReason::Malformed),
        TxBody::Transfer { to, amount } => transfer(ov, tx, debited, to, *amount),
        TxBody::Donate { amount } => donate(ov, tx, debited, *amount),
        TxBody::CreateToken { symbol, supply } => create_token(ov, tx, debited, symbol, *supply),
        TxBody::TransferToken {
            token_id: id,
            to,
            amount,
        } => transfer_token(ov, tx, debited, id, to, *amount),
        TxBody::DistributeToken {
            token_id: id,
            recipients,
        } => distribute_token(ov, tx, debited, id, recipients),
    }
}

// The kind rules below run after the common checks of `apply_tx`; `debited`
// is the sender's account with amount + fee paid and the nonce advanced. Each
// checks everything before its first write.

fn transfer(
    ov: &mut Overlay<'_>,
    tx: &Transaction,
    debited: Account,
    to: &PublicKey,
    amount: u64,
) -> Result<(), TxReason> {
    if *to == tx.sender {
        // debited.balance + amount <= the balance before: no overflow.
        let back = Account {
            balance: debited.balance + amount,
            nonce: debited.nonce,
        };
        ov.set_account(tx.sender, back);
        return Ok(());
    }
    let mut recipient = ov.account(to);
    recipient.balance = recipient
        .balance
        .checked_add(amount)
        .ok_or(TxReason::AmountOverflow)?;
    ov.set_account(tx.sender, debited);
    ov.set_account(*to, recipient);
    Ok(())
}

fn donate(
    ov: &mut Overlay<'_>,
    tx: &Transaction,
    debited: Account,
    amount: u64,
) -> Result<(), TxReason> {
    let pool = ov
        .pool()
        .checked_add(amount)
        .ok_or(TxReason::AmountOverflow)?;
    let total = ov
        .contributed(&tx.sender)
        .checked_add(amount)
        .ok_or(TxReason::AmountOverflow)?;
    ov.set_account(tx.sender, debited);
    ov.set_pool(pool);
    ov.set_contributed(tx.sender, total);
    Ok(())
}

fn create_token(
    ov: &mut Overlay<'_>,
    tx: &Transaction,
    debited: Account,
    symbol: &str,
    supply: u64,
) -> Result<(), TxReason> {
    if !is_valid_symbol(symbol) {
        return Err(TxReason::BadTokenSymbol);
    }
    let id = token_id(&tx.sender, symbol);
    if ov.token(&id).is_some() {
        return Err(TxReason::TokenExists);
    }
    ov.set_account(tx.sender, debited);
    ov.set_token(
        id,
        Token {
            owner: tx.sender,
            symbol: symbol.to_owned(),
            supply,
        },
    );
    ov.set_token_balance(id, tx.sender, supply);
    Ok(())
}

fn transfer_token(
    ov: &mut Overlay<'_>,
    tx: &Transaction,
    debited: Account,
    id: &Hash32,
    to: &PublicKey,
    amount: u64,
) -> Result<(), TxReason> {
    if ov.token(id).is_none() {
        return Err(TxReason::UnknownToken);
    }
    let held = ov.token_balance(id, &tx.sender);
    if held < amount {
        return Err(TxReason::TokenInsufficient);
    }
    ov.set_account(tx.sender, debited);
    if *to != tx.sender {
        // The balances of one token sum to its supply, a u64: no overflow.
        let theirs = ov.token_balance(id, to).saturating_add(amount);
        ov.set_token_balance(*id, tx.sender, held - amount);
        ov.set_token_balance(*id, *to, theirs);
    }
    Ok(())
}

fn distribute_token(
    ov: &mut Overlay<'_>,
    tx: &Transaction,
    debited: Account,
    id: &Hash32,
    recipients: &[(PublicKey, u64)],
) -> Result<(), TxReason> {
    if recipients.len() > MAX_RECIPIENTS {
        return Err(TxReason::TooManyRecipients);
    }
    let total = recipients
        .iter()
        .try_fold(0u64, |acc, (_, n)| acc.checked_add(*n))
        .ok_or(TxReason::AmountOverflow)?;
    let Some(token) = ov.token(id) else {
        return Err(TxReason::UnknownToken);
    };
    if token.owner != tx.sender {
        return Err(TxReason::NotTokenOwner);
    }
    let held = ov.token_balance(id, &tx.sender);
    if held < total {
        return Err(TxReason::TokenInsufficient);
    }
    ov.set_account(tx.sender, debited);
    ov.set_token_balance(*id, tx.sender, held - total);
    for (to, n) in recipients {
        let theirs = ov.token_balance(id, to).saturating_add(*n);
        ov.set_token_balance(*id, *to, theirs);
    }
    Ok(())
}

/// One verdict per transaction of a sequence.
pub type Verdicts = Vec<Result<(), TxReason>>;

impl Ledger {
    /// [`check_header`]: the header checks that need no state.
    pub fn check_header(
        params: &ChainParams,
        header: &BlockHeader,
        parent: &BlockHeader,
        median_time_past: u64,
        now_ms: u64,
    ) -> Result<(), BlockReason> {
        check_header(params, header, parent, median_time_past, now_ms)
    }

    /// Validates `block` on top of this state (whose tip is `parent`) and
    /// applies it; returns the undo record. Atomic: on `Err` the ledger is
    /// unchanged.
    pub fn connect(
        &mut self,
        params: &ChainParams,
        block: &Block,
        parent: &BlockHeader,
        median_time_past: u64,
        now_ms: u64,
        threads: usize,
    ) -> Result<Undo, BlockReason> {
        let (delta, undo) =
            self.prepare_connect(params, block, parent, median_time_past, now_ms, threads)?;
        self.apply(delta);
        Ok(undo)
    }

    /// Every check of [`Ledger::connect`], without writing: the writes to
    /// [`Ledger::apply`] and the undo record. Needs only shared access, so a
    /// caller can validate under a read lock and write under a short write
    /// lock (nothing else may write in between).
    pub fn prepare_connect(
        &self,
        params: &ChainParams,
        block: &Block,
        parent: &BlockHeader,
        median_time_past: u64,
        now_ms: u64,
        threads: usize,
    ) -> Result<(Delta, Undo), BlockReason> {
        check_block(
            params,
            block,
            parent,
            median_time_past,
            now_ms,
            self.pool_balance(),
            threads,
        )?;
        let mut ov = Overlay::new(self);
        // check_block guarantees a first transaction.
        let (reward, rest) = block.txs.split_first().ok_or(BlockReason::BadReward)?;
        apply_reward(&mut ov, params, reward)
            .map_err(|reason| BlockReason::BadTx { index: 0, reason })?;
        for (i, tx) in rest.iter().enumerate() {
            apply_tx(&mut ov, params, tx).map_err(|reason| BlockReason::BadTx {
                index: i + 1,
                reason,
            })?;
        }
        Ok(ov.finish())
    }

    /// Applies `txs` in order to a scratch copy of this state (the ledger
    /// itself is unchanged) and returns one verdict per transaction: a failing
    /// transaction is skipped and the next ones see the state without it. A
    /// transaction whose id was already applied is `duplicate`; signatures are
    /// batch-verified first over `threads` workers.
    pub fn apply_sequence(
        &self,
        params: &ChainParams,
        txs: &[Transaction],
        threads: usize,
    ) -> Vec<Result<(), TxReason>> {
        self.apply_sequence_known(params, txs, threads, &vec![false; txs.len()])
            .0
    }

    /// [`apply_sequence`](Self::apply_sequence) for a caller that already
    /// verified some signatures: `known_valid[i]` skips transaction `i`'s
    /// signature check (a signature's validity depends on its bytes alone, so a
    /// pool re-judging its transactions against a new tip need not verify them
    /// again). Also returns, per transaction, whether its signature is valid
    /// (true where it was known).
    pub fn apply_sequence_known(
        &self,
        params: &ChainParams,
        txs: &[Transaction],
        threads: usize,
        known_valid: &[bool],
    ) -> (Verdicts, Vec<bool>) {
        // One encoding per transaction: the signed message and the id.
        let signed: Vec<Vec<u8>> = txs.iter().map(Transaction::signed_bytes).collect();
        let unknown: Vec<usize> = (0..txs.len())
            .filter(|&i| !known_valid.get(i).copied().unwrap_or(false))
            .collect();
        let items: Vec<BatchItem<'_>> = unknown
            .iter()
            .map(|&i| BatchItem {
                public_key: &txs[i].sender,
                msg: &signed[i][..signed[i].len() - crypto::SIGNATURE_LEN],
                sig: &txs[i].signature,
            })
            .collect();
        let mut sig_ok = vec![true; txs.len()];
        for (&i, ok) in unknown.iter().zip(crypto::verify_batch(&items, threads)) {
            sig_ok[i] = ok;
        }
        let verdicts = self.apply_verified(params, txs, &signed, &sig_ok);
        (verdicts, sig_ok)
    }

    /// [`apply_sequence_known`](Self::apply_sequence_known) for many
    /// independent sequences at once, each on its own scratch copy of this
    /// state (one sequence cannot see another's effects), with the unknown
    /// signatures of all of them verified in one batch. `known_valid[c][i]`
    /// is for transaction `i` of sequence `c`.
    pub fn apply_chains(
        &self,
        params: &ChainParams,
        chains: &[Vec<Transaction>],
        threads: usize,
        known_valid: &[Vec<bool>],
    ) -> (Vec<Verdicts>, Vec<Vec<bool>>) {
        let signed: Vec<Vec<Vec<u8>>> = chains
            .iter()
            .map(|c| c.iter().map(Transaction::signed_bytes).collect())
            .collect();
        let mut unknown: Vec<(usize, usize)> = Vec::new();
        for (c, chain) in chains.iter().enumerate() {
            for i in 0..chain.len() {
                let known = known_valid
                    .get(c)
                    .and_then(|k| k.get(i))
                    .copied()
                    .unwrap_or(false);
                if !known {
                    unknown.push((c, i));
                }
            }
        }
        let items: Vec<BatchItem<'_>> = unknown
            .iter()
            .map(|&(c, i)| BatchItem {
                public_key: &chains[c][i].sender,
                msg: &signed[c][i][..signed[c][i].len() - crypto::SIGNATURE_LEN],
                sig: &chains[c][i].signature,
            })
            .collect();
        let mut sig_ok: Vec<Vec<bool>> = chains.iter().map(|c| vec![true; c.len()]).collect();
        for (&(c, i), ok) in unknown.iter().zip(crypto::verify_batch(&items, threads)) {
            sig_ok[c][i] = ok;
        }
        let verdicts = chains
            .iter()
            .zip(&signed)
            .zip(&sig_ok)
            .map(|((chain, signed), ok)| self.apply_verified(params, chain, signed, ok))
            .collect();
        (verdicts, sig_ok)
    }

    /// The state part of a sequence whose signature verdicts are `sig_ok`.
    fn apply_verified(
        &self,
        params: &ChainParams,
        txs: &[Transaction],
        signed: &[Vec<u8>],
        sig_ok: &[bool],
    ) -> Vec<Result<(), TxReason>> {
        let mut seen = HashSet::with_capacity(txs.len());
        let mut ov = Overlay::new(self);
        txs.iter()
            .zip(signed)
            .zip(sig_ok)
            .map(|((tx, both), &ok)| {
                let id = crypto::sha256(&both[TX_SIGNING_DOMAIN.len()..]);
                if seen.contains(&id) {
                    return Err(TxReason::Duplicate);
                }
                if !ok {
                    return Err(TxReason::BadSignature);
                }
                apply_tx(&mut ov, params, tx)?;
                seen.insert(id);
                Ok(())
            })
            .collect()
    }

    /// The reward amount a block on top of this state must pay when its
    /// transactions' fees sum to `fees`; `None` on overflow.
    pub fn reward_amount(&self, params: &ChainParams, fees: u64) -> Option<u64> {
        params.reward_amount(fees, self.pool_balance())
    }
}

#[cfg(test)]
mod tests;
