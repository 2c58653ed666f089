//! The ledger: chain parameters, state, block connection and undo.
//!
//! `Ledger` is internal (composed by `swarmmesh.chain`); it holds its state
//! behind a `RwLock`. `connect` and `apply_sequence` release the GIL for inputs
//! large enough to be worth it (the work is linear in the block).

use std::borrow::Cow;

use parking_lot::{RwLock, RwLockUpgradableReadGuard};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use super::chain::{PyBlock, PyBlockHeader, PyTransaction};
use super::crypto::{fixed, thread_count};
use crate::chain::params::{ChainParams, DEVNET_TARGET};
use crate::chain::reason::{BlockReason, TxReason};
use crate::chain::state::{Ledger, Undo};
use crate::chain::{Block, Hash32, PublicKey, Transaction};
use crate::error::CoreError;

/// Blocks (or sequences) with at least this many transactions are validated
/// with the GIL released.
const DETACH_MIN_TXS: usize = 8;

fn u64_arg(arg: &'static str, obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    obj.extract::<u64>().map_err(|_| {
        CoreError::invalid(arg, format!("must be an int in [0, 2**64), got {obj}")).into()
    })
}

/// An integer parameter in the range of `T` (`InvalidArgumentError` otherwise).
fn ranged<T: TryFrom<i128>>(arg: &'static str, v: i128) -> PyResult<T> {
    T::try_from(v).map_err(|_| CoreError::invalid(arg, format!("out of range: {v}")).into())
}

fn key32(arg: &'static str, obj: &Bound<'_, PyAny>) -> PyResult<PublicKey> {
    fixed::<32>(arg, obj)
}

/// Consensus parameters of a chain (frozen). Every node of a chain must use
/// the same values.
#[pyclass(frozen, eq, hash, module = "swarmmesh._core", name = "ChainParams")]
#[derive(PartialEq, Eq, Hash)]
pub(crate) struct PyChainParams {
    pub(crate) inner: ChainParams,
}

#[pymethods]
impl PyChainParams {
    /// Validated parameters (`InvalidArgumentError` names a bad field).
    #[new]
    #[pyo3(signature = (
        chain_id = "swarm-devnet",
        *,
        min_fee = 1,
        block_subsidy = 50,
        pool_payout_divisor = 100,
        target = None,
        max_future_ms = 7_200_000,
        median_span = 11,
        max_block_txs = 10_000,
        max_block_bytes = 4_194_304,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        chain_id: &str,
        min_fee: i128,
        block_subsidy: i128,
        pool_payout_divisor: i128,
        target: Option<&Bound<'_, PyAny>>,
        max_future_ms: i128,
        median_span: i128,
        max_block_txs: i128,
        max_block_bytes: i128,
    ) -> PyResult<Self> {
        let target = match target {
            Some(t) => fixed::<32>("target", t)?,
            None => DEVNET_TARGET,
        };
        Ok(Self {
            inner: ChainParams::new(
                chain_id,
                ranged("min_fee", min_fee)?,
                ranged("block_subsidy", block_subsidy)?,
                ranged("pool_payout_divisor", pool_payout_divisor)?,
                target,
                ranged("max_future_ms", max_future_ms)?,
                ranged("median_span", median_span)?,
                ranged("max_block_txs", max_block_txs)?,
                ranged("max_block_bytes", max_block_bytes)?,
            )?,
        })
    }

    /// The chain id every transaction and header must carry.
    #[getter]
    fn chain_id(&self) -> &str {
        &self.inner.chain_id
    }

    /// The smallest fee of a transaction.
    #[getter]
    fn min_fee(&self) -> u64 {
        self.inner.min_fee
    }

    /// Coins created by each block.
    #[getter]
    fn block_subsidy(&self) -> u64 {
        self.inner.block_subsidy
    }

    /// Each block pays `pool_balance // pool_payout_divisor` from the pool.
    #[getter]
    fn pool_payout_divisor(&self) -> u64 {
        self.inner.pool_payout_divisor
    }

    /// The proof-of-work target (32 bytes, big-endian).
    #[getter]
    fn target<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.target)
    }

    /// How far ahead of the local clock a block timestamp may be, in ms.
    #[getter]
    fn max_future_ms(&self) -> u64 {
        self.inner.max_future_ms
    }

    /// How many previous timestamps the median time past spans.
    #[getter]
    fn median_span(&self) -> usize {
        self.inner.median_span
    }

    /// The most transactions of a block (reward included).
    #[getter]
    fn max_block_txs(&self) -> usize {
        self.inner.max_block_txs
    }

    /// The most bytes of an encoded block.
    #[getter]
    fn max_block_bytes(&self) -> usize {
        self.inner.max_block_bytes
    }

    fn __repr__(&self) -> String {
        let p = &self.inner;
        format!(
            "ChainParams(chain_id={:?}, min_fee={}, block_subsidy={}, pool_payout_divisor={}, \
             max_future_ms={}, median_span={}, max_block_txs={}, max_block_bytes={})",
            p.chain_id,
            p.min_fee,
            p.block_subsidy,
            p.pool_payout_divisor,
            p.max_future_ms,
            p.median_span,
            p.max_block_txs,
            p.max_block_bytes
        )
    }
}

/// The outcome of a header check: `ok`, or a `reason` code (and for `bad-tx`
/// the transaction's `tx_reason` and `tx_index`).
#[pyclass(frozen, eq, hash, module = "swarmmesh._core", name = "Verdict")]
#[derive(PartialEq, Eq, Hash, Clone)]
pub(crate) struct PyVerdict {
    reason: Option<BlockReason>,
}

#[pymethods]
impl PyVerdict {
    /// Whether the check passed.
    #[getter]
    fn ok(&self) -> bool {
        self.reason.is_none()
    }

    /// The block reason code, or `None` when ok.
    #[getter]
    fn reason(&self) -> Option<&'static str> {
        self.reason.map(BlockReason::code)
    }

    /// The inner transaction reason of `bad-tx`.
    #[getter]
    fn tx_reason(&self) -> Option<&'static str> {
        self.reason
            .and_then(BlockReason::tx_reason)
            .map(TxReason::code)
    }

    /// The index of the failing transaction of `bad-tx`.
    #[getter]
    fn tx_index(&self) -> Option<usize> {
        self.reason.and_then(BlockReason::tx_index)
    }

    /// Whether the block should be deferred and re-checked later
    /// (`time-too-new`) rather than remembered as invalid.
    #[getter]
    fn deferred(&self) -> bool {
        self.reason.is_some_and(BlockReason::is_deferrable)
    }

    fn __bool__(&self) -> bool {
        self.reason.is_none()
    }

    fn __repr__(&self) -> String {
        match self.reason {
            None => "Verdict(ok=True)".to_owned(),
            Some(r) => format!("Verdict(ok=False, reason={r})"),
        }
    }
}

/// The outcome of `Ledger.connect`: the verdict and, when ok, the encoded
/// undo record and the new value of every changed key (`None` = deleted).
#[pyclass(frozen, module = "swarmmesh._core", name = "ConnectResult")]
pub(crate) struct PyConnectResult {
    verdict: PyVerdict,
    undo: Option<Py<PyBytes>>,
    changes: Py<PyList>,
}

#[pymethods]
impl PyConnectResult {
    /// Whether the block was valid and is now connected.
    #[getter]
    fn ok(&self) -> bool {
        self.verdict.ok()
    }

    /// The block reason code, or `None` when ok.
    #[getter]
    fn reason(&self) -> Option<&'static str> {
        self.verdict.reason()
    }

    /// The inner transaction reason of `bad-tx`.
    #[getter]
    fn tx_reason(&self) -> Option<&'static str> {
        self.verdict.tx_reason()
    }

    /// The index of the failing transaction of `bad-tx`.
    #[getter]
    fn tx_index(&self) -> Option<usize> {
        self.verdict.tx_index()
    }

    /// Whether the block should be deferred (`time-too-new`).
    #[getter]
    fn deferred(&self) -> bool {
        self.verdict.deferred()
    }

    /// The encoded undo record (for `Ledger.disconnect`), `None` when rejected.
    #[getter]
    fn undo(&self, py: Python<'_>) -> Option<Py<PyBytes>> {
        self.undo.as_ref().map(|u| u.clone_ref(py))
    }

    /// `(key, new value or None)` for every changed key, sorted by key
    /// (empty when rejected): what a store writes.
    #[getter]
    fn changes(&self, py: Python<'_>) -> Py<PyList> {
        self.changes.clone_ref(py)
    }

    fn __bool__(&self) -> bool {
        self.verdict.ok()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        match self.verdict.reason {
            None => format!(
                "ConnectResult(ok=True, changes={})",
                self.changes.bind(py).len()
            ),
            Some(r) => format!("ConnectResult(ok=False, reason={r})"),
        }
    }
}

fn kv_list<'py, 'a>(
    py: Python<'py>,
    items: impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)>,
) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for (k, v) in items {
        let v = v.map(|v| PyBytes::new(py, v));
        list.append(PyTuple::new(
            py,
            [
                PyBytes::new(py, k).into_any(),
                v.into_pyobject(py)?.into_any(),
            ],
        )?)?;
    }
    Ok(list)
}

/// A block argument: a `Block`, or its canonical bytes (decoded here; a
/// decode failure is the block reason `malformed`).
enum BlockArg<'a> {
    Object(&'a Block),
    Decoded(Block),
    Malformed,
}

/// The ledger state of one chain tip, with the parameters it validates by.
/// Internal: `swarmmesh.chain` composes it with a store and a pool.
#[pyclass(frozen, module = "swarmmesh._core", name = "Ledger")]
pub(crate) struct PyLedger {
    params: Py<PyChainParams>,
    state: RwLock<Ledger>,
}

impl PyLedger {
    fn p<'a>(&'a self, py: Python<'a>) -> &'a ChainParams {
        &self.params.bind(py).get().inner
    }
}

#[pymethods]
impl PyLedger {
    /// The genesis state: each `(public key, amount)` credited (amounts > 0,
    /// keys distinct).
    #[new]
    #[allow(clippy::needless_pass_by_value)] // PyO3 extracts sequences as owned Vecs
    fn new(
        params: Bound<'_, PyChainParams>,
        allocations: Vec<(Bound<'_, PyAny>, Bound<'_, PyAny>)>,
    ) -> PyResult<Self> {
        let allocations = allocations
            .iter()
            .map(|(k, n)| Ok((key32("allocations", k)?, u64_arg("allocations", n)?)))
            .collect::<PyResult<Vec<_>>>()?;
        let state = Ledger::genesis(&params.get().inner, &allocations)?;
        Ok(Self {
            params: params.unbind(),
            state: RwLock::new(state),
        })
    }

    /// The state whose canonical entries are `entries` (as `entries()` gives
    /// them, any order); `DecodeError` on a malformed or non-canonical entry.
    #[staticmethod]
    #[allow(clippy::needless_pass_by_value)]
    fn from_entries(
        params: Bound<'_, PyChainParams>,
        entries: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> PyResult<Self> {
        params.get().inner.validate()?;
        Ok(Self {
            params: params.unbind(),
            state: RwLock::new(Ledger::from_entries(&entries)?),
        })
    }

    /// The parameters this ledger validates by.
    #[getter]
    fn params(&self, py: Python<'_>) -> Py<PyChainParams> {
        self.params.clone_ref(py)
    }

    /// The header checks that need no state: version, chain id, proof of work
    /// (with this chain's target), link to `parent`, height, timestamp after
    /// `median_time_past` and at most `max_future_ms` after `now_ms`.
    fn check_header(
        &self,
        py: Python<'_>,
        header: &Bound<'_, PyBlockHeader>,
        parent: &Bound<'_, PyBlockHeader>,
        median_time_past: &Bound<'_, PyAny>,
        now_ms: &Bound<'_, PyAny>,
    ) -> PyResult<PyVerdict> {
        let mtp = u64_arg("median_time_past", median_time_past)?;
        let now = u64_arg("now_ms", now_ms)?;
        Ok(PyVerdict {
            reason: Ledger::check_header(
                self.p(py),
                &header.get().inner,
                &parent.get().inner,
                mtp,
                now,
            )
            .err(),
        })
    }

    /// Validates `block` (a `Block` or its bytes) on this state, whose tip is
    /// `parent`, and connects it when valid. Atomic: a rejected block leaves
    /// the state unchanged. The GIL is released while validating.
    #[pyo3(signature = (block, parent, median_time_past, now_ms, *, threads = None))]
    fn connect(
        &self,
        py: Python<'_>,
        block: &Bound<'_, PyAny>,
        parent: &Bound<'_, PyBlockHeader>,
        median_time_past: &Bound<'_, PyAny>,
        now_ms: &Bound<'_, PyAny>,
        threads: Option<usize>,
    ) -> PyResult<PyConnectResult> {
        let mtp = u64_arg("median_time_past", median_time_past)?;
        let now = u64_arg("now_ms", now_ms)?;
        let threads = thread_count(threads)?;
        let owned_block;
        let arg = if let Ok(b) = block.cast::<PyBlock>() {
            owned_block = b.clone();
            BlockArg::Object(&owned_block.get().inner)
        } else if let Ok(b) = block.cast::<PyBytes>() {
            match Block::decode(b.as_bytes()) {
                Ok(decoded) => BlockArg::Decoded(decoded),
                Err(_) => BlockArg::Malformed,
            }
        } else {
            return Err(super::errors::argument_type_error(
                "block",
                "argument `block` must be a Block or bytes".to_owned(),
            ));
        };
        let params = self.p(py);
        let parent = &parent.get().inner;
        // Validate under an upgradable read lock (readers such as `balance`
        // proceed meanwhile, other writers wait), then write briefly.
        let run = |b: &Block| {
            let guard = self.state.upgradable_read();
            let (delta, undo) = guard.prepare_connect(params, b, parent, mtp, now, threads)?;
            RwLockUpgradableReadGuard::upgrade(guard).apply(delta);
            Ok(undo)
        };
        let result = match &arg {
            BlockArg::Malformed => Err(BlockReason::Malformed),
            BlockArg::Object(b) if b.txs.len() < DETACH_MIN_TXS => run(b),
            BlockArg::Object(b) => py.detach(|| run(b)),
            BlockArg::Decoded(b) => py.detach(|| run(b)),
        };
        Ok(match result {
            Ok(undo) => PyConnectResult {
                verdict: PyVerdict { reason: None },
                undo: Some(PyBytes::new(py, &undo.to_bytes()).unbind()),
                changes: kv_list(
                    py,
                    undo.changes
                        .iter()
                        .map(|(k, _, new)| (k.as_slice(), new.as_deref())),
                )?
                .unbind(),
            },
            Err(reason) => PyConnectResult {
                verdict: PyVerdict {
                    reason: Some(reason),
                },
                undo: None,
                changes: PyList::empty(py).unbind(),
            },
        })
    }

    /// Undoes the block whose `ConnectResult.undo` is `undo`; returns
    /// `(key, restored value or None)` for every key it touched. The state
    /// must be the one that block left (`InvalidArgumentError` otherwise,
    /// state unchanged); `DecodeError` for malformed bytes.
    fn disconnect<'py>(
        &self,
        py: Python<'py>,
        undo: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let bytes: Cow<'_, [u8]> = super::args::id_bytes("undo", undo)?;
        let undo = Undo::decode(&bytes)?;
        self.state.write().disconnect(&undo)?;
        kv_list(
            py,
            undo.changes
                .iter()
                .map(|(k, old, _)| (k.as_slice(), old.as_deref())),
        )
    }

    /// Applies `txs` (`Transaction` objects or their bytes) in order to a
    /// scratch copy of the state and returns one verdict per transaction: `None`
    /// when it applies, else its reason code (failing ones are skipped, later
    /// ones see the state without them). The state itself is unchanged.
    #[pyo3(signature = (txs, *, threads = None))]
    fn apply_sequence(
        &self,
        py: Python<'_>,
        txs: &Bound<'_, PyAny>,
        threads: Option<usize>,
    ) -> PyResult<Vec<Option<&'static str>>> {
        let threads = thread_count(threads)?;
        let seq = Sequence::parse(txs)?;
        let params = self.p(py);
        let run = || {
            self.state
                .read()
                .apply_sequence_known(params, &seq.valid, threads, &seq.known)
        };
        let (verdicts, sig_ok) = if seq.valid.len() >= DETACH_MIN_TXS {
            py.detach(run)
        } else {
            run()
        };
        Ok(seq.finish(verdicts, &sig_ok))
    }

    /// `apply_sequence` for many independent sequences in one call: each is
    /// applied to its own scratch copy of the state (none sees another's
    /// effects), and the signatures not yet known valid of all of them are
    /// verified in one batch. One list of verdicts per sequence, in order.
    #[pyo3(signature = (chains, *, threads = None))]
    fn apply_chains(
        &self,
        py: Python<'_>,
        chains: &Bound<'_, PyAny>,
        threads: Option<usize>,
    ) -> PyResult<Vec<Vec<Option<&'static str>>>> {
        let threads = thread_count(threads)?;
        let mut seqs: Vec<Sequence<'_>> = Vec::new();
        for chain in chains.try_iter()? {
            seqs.push(Sequence::parse(&chain?)?);
        }
        let valid: Vec<Vec<Transaction>> = seqs
            .iter_mut()
            .map(|q| std::mem::take(&mut q.valid))
            .collect();
        let known: Vec<Vec<bool>> = seqs.iter().map(|q| q.known.clone()).collect();
        let params = self.p(py);
        let total: usize = valid.iter().map(Vec::len).sum();
        let run = || {
            self.state
                .read()
                .apply_chains(params, &valid, threads, &known)
        };
        let (verdicts, sig_ok) = if total >= DETACH_MIN_TXS {
            py.detach(run)
        } else {
            run()
        };
        Ok(seqs
            .into_iter()
            .zip(verdicts)
            .zip(&sig_ok)
            .map(|((q, v), ok)| q.finish(v, ok))
            .collect())
    }

    /// The exact reward amount of a block on this state whose transactions'
    /// fees sum to `fees`: subsidy + fees + pool // divisor.
    fn reward_amount(&self, py: Python<'_>, fees: &Bound<'_, PyAny>) -> PyResult<u64> {
        let fees = u64_arg("fees", fees)?;
        self.state
            .read()
            .reward_amount(self.p(py), fees)
            .ok_or_else(|| {
                CoreError::invalid("fees", "the reward amount would exceed 2**64 - 1").into()
            })
    }

    /// The balance of a 32-byte public key.
    fn balance(&self, public_key: &Bound<'_, PyAny>) -> PyResult<u64> {
        Ok(self.state.read().balance(&key32("public_key", public_key)?))
    }

    /// The nonce the next transaction of a 32-byte public key must carry.
    fn nonce(&self, public_key: &Bound<'_, PyAny>) -> PyResult<u64> {
        Ok(self.state.read().nonce(&key32("public_key", public_key)?))
    }

    /// The reward pool balance.
    #[getter]
    fn pool_balance(&self) -> u64 {
        self.state.read().pool_balance()
    }

    /// Every contributor's public key with the total it donated.
    fn contributors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, n) in self.state.read().contributors() {
            d.set_item(PyBytes::new(py, &k), n)?;
        }
        Ok(d)
    }

    /// `(owner public key, symbol, supply)` of a token, or `None`.
    fn token<'py>(
        &self,
        py: Python<'py>,
        token_id: &Bound<'py, PyAny>,
    ) -> PyResult<Option<(Bound<'py, PyBytes>, String, u64)>> {
        let id: Hash32 = fixed::<32>("token_id", token_id)?;
        Ok(self
            .state
            .read()
            .token(&id)
            .map(|t| (PyBytes::new(py, &t.owner), t.symbol.clone(), t.supply)))
    }

    /// What a 32-byte public key holds of a token.
    fn token_balance(
        &self,
        token_id: &Bound<'_, PyAny>,
        public_key: &Bound<'_, PyAny>,
    ) -> PyResult<u64> {
        let id: Hash32 = fixed::<32>("token_id", token_id)?;
        Ok(self
            .state
            .read()
            .token_balance(&id, &key32("public_key", public_key)?))
    }

    /// SHA-256 of the whole state (its sorted canonical entries).
    fn state_hash<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.state.read().state_hash())
    }

    /// Every canonical `(key, value)` entry, sorted by key.
    fn entries<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for (k, v) in self.state.read().entries() {
            list.append((PyBytes::new(py, &k), PyBytes::new(py, &v)))?;
        }
        Ok(list)
    }

    /// An independent copy (same parameters).
    fn copy(&self, py: Python<'_>) -> Self {
        Self {
            params: self.params.clone_ref(py),
            state: RwLock::new(self.state.read().clone()),
        }
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let s = self.state.read();
        format!(
            "Ledger(chain_id={:?}, pool_balance={}, entries={})",
            self.p(py).chain_id,
            s.pool_balance(),
            s.entries().len()
        )
    }
}

/// The transactions of one `apply_sequence` argument: each item decoded (None
/// where bytes do not decode), the decoded ones in order, whether each of those
/// is a Transaction object whose signature is already known valid, and the
/// objects themselves (to remember the signatures verified now).
struct Sequence<'py> {
    parsed: Vec<bool>,
    valid: Vec<Transaction>,
    known: Vec<bool>,
    objects: Vec<Option<Bound<'py, PyTransaction>>>,
}

impl<'py> Sequence<'py> {
    fn parse(txs: &Bound<'py, PyAny>) -> PyResult<Self> {
        let mut seq = Sequence {
            parsed: Vec::new(),
            valid: Vec::new(),
            known: Vec::new(),
            objects: Vec::new(),
        };
        for item in txs.try_iter()? {
            let item = item?;
            if let Ok(t) = item.cast::<PyTransaction>() {
                seq.valid.push(t.get().inner.clone());
                seq.known.push(t.get().signature_known_valid());
                seq.objects.push(Some(t.clone()));
                seq.parsed.push(true);
            } else if let Ok(b) = item.cast::<PyBytes>() {
                match Transaction::decode(b.as_bytes()) {
                    Ok(tx) => {
                        seq.valid.push(tx);
                        seq.known.push(false);
                        seq.objects.push(None);
                        seq.parsed.push(true);
                    }
                    Err(_) => seq.parsed.push(false),
                }
            } else {
                return Err(super::errors::argument_type_error(
                    "txs",
                    "every item of `txs` must be a Transaction or bytes".to_owned(),
                ));
            }
        }
        Ok(seq)
    }

    /// The verdict codes, one per item (`malformed` where it did not decode),
    /// after remembering the signatures found valid.
    fn finish(
        self,
        verdicts: Vec<Result<(), TxReason>>,
        sig_ok: &[bool],
    ) -> Vec<Option<&'static str>> {
        for (object, ok) in self.objects.iter().zip(sig_ok) {
            if let (Some(object), true) = (object, ok) {
                object.get().set_signature_valid();
            }
        }
        let mut verdicts = verdicts.into_iter();
        self.parsed
            .iter()
            .map(|&decoded| {
                if decoded {
                    verdicts.next().and_then(Result::err).map(TxReason::code)
                } else {
                    Some(TxReason::Malformed.code())
                }
            })
            .collect()
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyChainParams>()?;
    m.add_class::<PyVerdict>()?;
    m.add_class::<PyConnectResult>()?;
    m.add_class::<PyLedger>()?;
    Ok(())
}
