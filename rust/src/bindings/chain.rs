//! Chain value types: `Transaction`, `BlockHeader`, `Block`, and the functions
//! `merkle_root`, `mine` and `token_id`.
//!
//! The objects are frozen and cache what Python asks for most: a transaction
//! keeps its canonical bytes and id, a header its id (so `header.id` is an
//! attribute read, not a hash), a block its bytes, content hash and the ids of
//! its transactions (which the ledger bindings reuse instead of re-hashing).

use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple, PyType};

use super::args::{id_bytes, reduce_via_from_bytes};
use super::crypto::{PySigningKey, fixed, thread_count};
use super::errors::argument_type_error;
use crate::chain::block::HEADER_VERSION;
use crate::chain::{
    self, Block, BlockHeader, Hash32, PublicKey, Transaction, TxBody, check_symbol_encodable, pow,
};
use crate::crypto::{self, SecretKey, sha256};
use crate::error::CoreError;

/// Nonces tried per GIL-free slice of `mine`; between slices pending signals
/// (Ctrl-C) are handled.
const MINE_SLICE: u64 = 1 << 16;
/// Id lists at least this long get their Merkle root with the GIL released.
const MERKLE_DETACH_MIN: usize = 256;
/// Blocks at least this large are decoded with the GIL released.
const BLOCK_DETACH_MIN: usize = 64 * 1024;

/// An int in `[0, 2^64)`, or an `InvalidArgumentError` naming `arg`.
fn u64_arg(arg: &'static str, obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    obj.extract::<u64>().map_err(|_| {
        CoreError::invalid(arg, format!("must be an int in [0, 2**64), got {obj}")).into()
    })
}

/// An account: an `sw1...` address or a 32-byte public key.
fn account(arg: &'static str, obj: &Bound<'_, PyAny>) -> PyResult<PublicKey> {
    if let Ok(s) = obj.extract::<&str>() {
        return crypto::public_key_of(s)
            .map_err(|_| CoreError::invalid(arg, format!("not an sw1 address: {s:?}")).into());
    }
    fixed::<32>(arg, obj)
}

/// The signing key of a `swarmmesh.Keypair` (its `_key`) or a `SigningKey`.
fn secret_key(kp: &Bound<'_, PyAny>) -> PyResult<SecretKey> {
    if let Ok(k) = kp.cast::<PySigningKey>() {
        return Ok(k.get().inner.clone());
    }
    if let Ok(inner) = kp.getattr("_key") {
        if let Ok(k) = inner.cast::<PySigningKey>() {
            return Ok(k.get().inner.clone());
        }
    }
    Err(argument_type_error(
        "kp",
        "argument `kp` must be a swarmmesh.Keypair or a SigningKey".to_owned(),
    ))
}

fn hash_of(id: &Hash32) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&id[..8]);
    u64::from_le_bytes(b)
}

fn short_hex(id: &[u8]) -> String {
    use std::fmt::Write;
    id[..6].iter().fold(String::with_capacity(12), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A signed transaction (frozen, hashable; equal when the ids are).
///
/// Build one with a classmethod (`transfer`, `donate`, `create_token`,
/// `transfer_token`, `distribute_token`, `reward`), which signs whatever it is
/// given: validity is judged by the ledger.
#[pyclass(frozen, module = "swarmmesh", name = "Transaction")]
pub(crate) struct PyTransaction {
    pub(crate) inner: Transaction,
    pub(crate) id: Hash32,
    id_obj: Py<PyBytes>,
    bytes: Py<PyBytes>,
    /// Whether the signature is known to verify (set once it has): the object
    /// is immutable and the verdict depends on its bytes alone, so the pool
    /// never verifies one transaction twice.
    signature_ok: AtomicBool,
}

impl PyTransaction {
    /// Wraps a transaction; `raw` and `id` when the caller already has them.
    pub(crate) fn wrap(py: Python<'_>, inner: Transaction, raw: Option<&[u8]>) -> Self {
        let owned;
        let raw = if let Some(raw) = raw {
            raw
        } else {
            owned = inner.to_bytes();
            &owned
        };
        let id = sha256(raw);
        let bytes = PyBytes::new(py, raw);
        Self {
            inner,
            id,
            id_obj: PyBytes::new(py, &id).unbind(),
            bytes: bytes.unbind(),
            signature_ok: AtomicBool::new(false),
        }
    }

    /// Whether this transaction's signature has already been verified.
    pub(crate) fn signature_known_valid(&self) -> bool {
        self.signature_ok.load(Ordering::Relaxed)
    }

    /// Records that this transaction's signature verifies.
    pub(crate) fn set_signature_valid(&self) {
        self.signature_ok.store(true, Ordering::Relaxed);
    }

    /// The canonical bytes (cached).
    pub(crate) fn raw<'a>(&'a self, py: Python<'a>) -> &'a [u8] {
        self.bytes.bind(py).as_bytes()
    }

    fn signed(
        py: Python<'_>,
        kp: &Bound<'_, PyAny>,
        chain_id: &str,
        nonce: &Bound<'_, PyAny>,
        fee: &Bound<'_, PyAny>,
        body: TxBody,
    ) -> PyResult<Self> {
        let key = secret_key(kp)?;
        let tx = Transaction::sign(
            &key,
            chain_id,
            u64_arg("nonce", nonce)?,
            u64_arg("fee", fee)?,
            body,
        )?;
        Ok(Self::wrap(py, tx, None))
    }
}

#[pymethods]
impl PyTransaction {
    /// Coins from the signer to `to` (an address or a 32-byte key).
    #[classmethod]
    #[pyo3(signature = (kp, to, amount, *, nonce, fee, chain_id))]
    #[allow(clippy::too_many_arguments)]
    fn transfer(
        cls: &Bound<'_, PyType>,
        kp: &Bound<'_, PyAny>,
        to: &Bound<'_, PyAny>,
        amount: &Bound<'_, PyAny>,
        nonce: &Bound<'_, PyAny>,
        fee: &Bound<'_, PyAny>,
        chain_id: &str,
    ) -> PyResult<Self> {
        let body = TxBody::Transfer {
            to: account("to", to)?,
            amount: u64_arg("amount", amount)?,
        };
        Self::signed(cls.py(), kp, chain_id, nonce, fee, body)
    }

    /// Coins from the signer into the reward pool.
    #[classmethod]
    #[pyo3(signature = (kp, amount, *, nonce, fee, chain_id))]
    fn donate(
        cls: &Bound<'_, PyType>,
        kp: &Bound<'_, PyAny>,
        amount: &Bound<'_, PyAny>,
        nonce: &Bound<'_, PyAny>,
        fee: &Bound<'_, PyAny>,
        chain_id: &str,
    ) -> PyResult<Self> {
        let body = TxBody::Donate {
            amount: u64_arg("amount", amount)?,
        };
        Self::signed(cls.py(), kp, chain_id, nonce, fee, body)
    }

    /// A new profile token `symbol` owned by the signer, `supply` units credited
    /// to it. Any 1 to 12 printable ASCII characters sign; valid symbols are
    /// `[A-Z0-9]` (else the ledger says `bad-token-symbol`).
    #[classmethod]
    #[pyo3(signature = (kp, symbol, supply, *, nonce, fee, chain_id))]
    #[allow(clippy::too_many_arguments)]
    fn create_token(
        cls: &Bound<'_, PyType>,
        kp: &Bound<'_, PyAny>,
        symbol: &str,
        supply: &Bound<'_, PyAny>,
        nonce: &Bound<'_, PyAny>,
        fee: &Bound<'_, PyAny>,
        chain_id: &str,
    ) -> PyResult<Self> {
        let body = TxBody::CreateToken {
            symbol: symbol.to_owned(),
            supply: u64_arg("supply", supply)?,
        };
        Self::signed(cls.py(), kp, chain_id, nonce, fee, body)
    }

    /// Token units from the signer to `to`.
    #[classmethod]
    #[pyo3(signature = (kp, token_id, to, amount, *, nonce, fee, chain_id))]
    #[allow(clippy::too_many_arguments)]
    fn transfer_token(
        cls: &Bound<'_, PyType>,
        kp: &Bound<'_, PyAny>,
        token_id: &Bound<'_, PyAny>,
        to: &Bound<'_, PyAny>,
        amount: &Bound<'_, PyAny>,
        nonce: &Bound<'_, PyAny>,
        fee: &Bound<'_, PyAny>,
        chain_id: &str,
    ) -> PyResult<Self> {
        let body = TxBody::TransferToken {
            token_id: fixed("token_id", token_id)?,
            to: account("to", to)?,
            amount: u64_arg("amount", amount)?,
        };
        Self::signed(cls.py(), kp, chain_id, nonce, fee, body)
    }

    /// Token units from the owner to many `(address, amount)` recipients.
    #[classmethod]
    #[pyo3(signature = (kp, token_id, recipients, *, nonce, fee, chain_id))]
    #[allow(clippy::too_many_arguments)]
    fn distribute_token(
        cls: &Bound<'_, PyType>,
        kp: &Bound<'_, PyAny>,
        token_id: &Bound<'_, PyAny>,
        recipients: &Bound<'_, PyAny>,
        nonce: &Bound<'_, PyAny>,
        fee: &Bound<'_, PyAny>,
        chain_id: &str,
    ) -> PyResult<Self> {
        let mut list = Vec::new();
        for item in recipients.try_iter()? {
            let item = item?;
            let (who, amount): (Bound<'_, PyAny>, Bound<'_, PyAny>) =
                item.extract().map_err(|_| {
                    argument_type_error(
                        "recipients",
                        "argument `recipients` must hold (address, amount) pairs".to_owned(),
                    )
                })?;
            list.push((
                account("recipients", &who)?,
                u64_arg("recipients", &amount)?,
            ));
        }
        let body = TxBody::DistributeToken {
            token_id: fixed("token_id", token_id)?,
            recipients: list,
        };
        Self::signed(cls.py(), kp, chain_id, nonce, fee, body)
    }

    /// The reward transaction of the block at `height` (nonce = height, fee = 0).
    #[classmethod]
    #[pyo3(signature = (kp, amount, *, height, chain_id))]
    fn reward(
        cls: &Bound<'_, PyType>,
        kp: &Bound<'_, PyAny>,
        amount: &Bound<'_, PyAny>,
        height: &Bound<'_, PyAny>,
        chain_id: &str,
    ) -> PyResult<Self> {
        let key = secret_key(kp)?;
        let tx = Transaction::reward(
            &key,
            chain_id,
            u64_arg("height", height)?,
            u64_arg("amount", amount)?,
        )?;
        Ok(Self::wrap(cls.py(), tx, None))
    }

    /// Decodes canonical bytes; `DecodeError` (with `reason`) on anything else.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Self> {
        let data = id_bytes("data", data)?;
        let tx = Transaction::decode(&data)?;
        Ok(Self::wrap(py, tx, Some(&data)))
    }

    /// The id: SHA-256 of `to_bytes()` (32 bytes).
    #[getter]
    fn id(&self, py: Python<'_>) -> Py<PyBytes> {
        self.id_obj.clone_ref(py)
    }

    /// The kind: `reward`, `transfer`, `donate`, `create_token`,
    /// `transfer_token` or `distribute_token`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    /// The chain id (replay protection).
    #[getter]
    fn chain_id(&self) -> &str {
        &self.inner.chain_id
    }

    /// The signer's address.
    #[getter]
    fn sender(&self) -> String {
        crypto::address_of(&self.inner.sender)
    }

    /// The signer's 32-byte public key.
    #[getter]
    fn sender_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.sender)
    }

    /// The sender's sequence number (the height for a reward).
    #[getter]
    fn nonce(&self) -> u64 {
        self.inner.nonce
    }

    /// Coins paid to the block producer.
    #[getter]
    fn fee(&self) -> u64 {
        self.inner.fee
    }

    /// The amount, for `reward`, `transfer`, `donate`, `transfer_token`; else None.
    #[getter]
    fn amount(&self) -> Option<u64> {
        self.inner.body.amount()
    }

    /// The recipient's address, for `transfer` and `transfer_token`; else None.
    #[getter]
    fn to(&self) -> Option<String> {
        self.inner.body.to().map(crypto::address_of)
    }

    /// The token id, for `transfer_token` and `distribute_token`; else None.
    #[getter]
    fn token_id<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.inner.body.token_id().map(|t| PyBytes::new(py, t))
    }

    /// The symbol, for `create_token`; else None.
    #[getter]
    fn symbol(&self) -> Option<&str> {
        match &self.inner.body {
            TxBody::CreateToken { symbol, .. } => Some(symbol),
            _ => None,
        }
    }

    /// The supply, for `create_token`; else None.
    #[getter]
    fn supply(&self) -> Option<u64> {
        match &self.inner.body {
            TxBody::CreateToken { supply, .. } => Some(*supply),
            _ => None,
        }
    }

    /// `(address, amount)` pairs, for `distribute_token`; else None.
    #[getter]
    fn recipients<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        match &self.inner.body {
            TxBody::DistributeToken { recipients, .. } => {
                let items = recipients
                    .iter()
                    .map(|(pk, amount)| (crypto::address_of(pk), *amount));
                Ok(Some(PyTuple::new(py, items)?))
            }
            _ => Ok(None),
        }
    }

    /// The 64-byte Ed25519 signature of `signing_bytes()`.
    #[getter]
    fn signature<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.signature)
    }

    /// The encoded length in bytes.
    #[getter]
    fn size(&self, py: Python<'_>) -> usize {
        self.raw(py).len()
    }

    /// The bytes the signature covers (domain separator + encoding without it).
    fn signing_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.signing_bytes())
    }

    /// The canonical bytes, signature included.
    fn to_bytes(&self, py: Python<'_>) -> Py<PyBytes> {
        self.bytes.clone_ref(py)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyTransaction>()
            .is_ok_and(|o| o.get().id == self.id)
    }

    fn __hash__(&self) -> u64 {
        hash_of(&self.id)
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        reduce_via_from_bytes::<Self>(py, slf.get().bytes.bind(py).clone())
    }

    fn __repr__(&self) -> String {
        format!(
            "Transaction(kind='{}', id={}.., sender={}, nonce={}, fee={})",
            self.inner.kind(),
            short_hex(&self.id),
            crypto::address_of(&self.inner.sender),
            self.inner.nonce,
            self.inner.fee
        )
    }
}

/// A block header (frozen, hashable; equal when the ids are). The id is
/// computed once, at construction.
#[pyclass(frozen, module = "swarmmesh", name = "BlockHeader")]
pub(crate) struct PyBlockHeader {
    pub(crate) inner: BlockHeader,
    pub(crate) id: Hash32,
    id_obj: Py<PyBytes>,
}

impl PyBlockHeader {
    pub(crate) fn wrap(py: Python<'_>, inner: BlockHeader) -> Self {
        let id = inner.id();
        Self {
            inner,
            id,
            id_obj: PyBytes::new(py, &id).unbind(),
        }
    }

    fn fields<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let h = &self.inner;
        let d = PyDict::new(py);
        d.set_item("version", h.version)?;
        d.set_item("chain_id", &h.chain_id)?;
        d.set_item("height", h.height)?;
        d.set_item("prev_id", PyBytes::new(py, &h.prev_id))?;
        d.set_item("merkle_root", PyBytes::new(py, &h.merkle_root))?;
        d.set_item("timestamp_ms", h.timestamp_ms)?;
        d.set_item("target", PyBytes::new(py, &h.target))?;
        d.set_item("nonce", h.nonce)?;
        d.set_item("producer", PyBytes::new(py, &h.producer))?;
        Ok(d)
    }
}

#[pymethods]
impl PyBlockHeader {
    /// A header from its fields; `target` is a 32-byte big-endian integer,
    /// `producer` a 32-byte public key.
    #[new]
    #[pyo3(signature = (version, chain_id, height, prev_id, merkle_root, timestamp_ms, target, nonce, producer))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        version: &Bound<'_, PyAny>,
        chain_id: &str,
        height: &Bound<'_, PyAny>,
        prev_id: &Bound<'_, PyAny>,
        merkle_root: &Bound<'_, PyAny>,
        timestamp_ms: &Bound<'_, PyAny>,
        target: &Bound<'_, PyAny>,
        nonce: &Bound<'_, PyAny>,
        producer: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let version = version.extract::<u32>().map_err(|_| {
            CoreError::invalid(
                "version",
                format!("must be an int in [0, 2**32), got {version}"),
            )
        })?;
        let h = BlockHeader {
            version,
            chain_id: chain_id.to_owned(),
            height: u64_arg("height", height)?,
            prev_id: fixed("prev_id", prev_id)?,
            merkle_root: fixed("merkle_root", merkle_root)?,
            timestamp_ms: u64_arg("timestamp_ms", timestamp_ms)?,
            target: fixed("target", target)?,
            nonce: u64_arg("nonce", nonce)?,
            producer: fixed("producer", producer)?,
        };
        h.check_encodable()?;
        Ok(Self::wrap(py, h))
    }

    /// Decodes canonical bytes; `DecodeError` (with `reason`) on anything else.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Self> {
        let data = id_bytes("data", data)?;
        Ok(Self::wrap(py, BlockHeader::decode(&data)?))
    }

    /// The block id: SHA-256 of `to_bytes()` (32 bytes, cached).
    #[getter]
    fn id(&self, py: Python<'_>) -> Py<PyBytes> {
        self.id_obj.clone_ref(py)
    }

    /// The consensus version (1).
    #[getter]
    fn version(&self) -> u32 {
        self.inner.version
    }
    /// The chain id.
    #[getter]
    fn chain_id(&self) -> &str {
        &self.inner.chain_id
    }
    /// The height (genesis is 0).
    #[getter]
    fn height(&self) -> u64 {
        self.inner.height
    }
    /// The parent's id (32 bytes; all zero for genesis).
    #[getter]
    fn prev_id<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.prev_id)
    }
    /// The Merkle root of the transaction ids.
    #[getter]
    fn merkle_root<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.merkle_root)
    }
    /// Production time, ms since the Unix epoch.
    #[getter]
    fn timestamp_ms(&self) -> u64 {
        self.inner.timestamp_ms
    }
    /// The proof-of-work target (32 bytes, big-endian).
    #[getter]
    fn target<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.target)
    }
    /// The nonce.
    #[getter]
    fn nonce(&self) -> u64 {
        self.inner.nonce
    }
    /// The producer's 32-byte public key.
    #[getter]
    fn producer<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.producer)
    }
    /// The producer's address.
    #[getter]
    fn producer_address(&self) -> String {
        crypto::address_of(&self.inner.producer)
    }
    /// Expected hashes to meet the target: `floor(2**256 / (target + 1))`,
    /// saturating at `2**128 - 1`.
    #[getter]
    fn work(&self) -> u128 {
        self.inner.work()
    }

    /// Whether the id, as a big-endian integer, is at most the target.
    fn meets_target(&self) -> bool {
        pow::meets_target(&self.id, &self.inner.target)
    }

    /// The canonical bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }

    /// A copy with the given fields changed (validated like the constructor).
    #[pyo3(signature = (**changes))]
    fn replace<'py>(
        slf: &Bound<'py, Self>,
        changes: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let fields = slf.get().fields(slf.py())?;
        if let Some(changes) = changes {
            for key in changes.keys() {
                if !fields.contains(&key)? {
                    return Err(CoreError::invalid(
                        "changes",
                        format!("BlockHeader has no field {key}"),
                    )
                    .into());
                }
            }
            fields.update(changes.as_mapping())?;
        }
        slf.get_type().call((), Some(&fields))
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyBlockHeader>()
            .is_ok_and(|o| o.get().id == self.id)
    }

    fn __hash__(&self) -> u64 {
        hash_of(&self.id)
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        reduce_via_from_bytes::<Self>(py, PyBytes::new(py, &slf.get().inner.to_bytes()))
    }

    fn __repr__(&self) -> String {
        format!(
            "BlockHeader(height={}, id={}.., prev_id={}.., chain_id='{}', timestamp_ms={}, nonce={})",
            self.inner.height,
            short_hex(&self.id),
            short_hex(&self.inner.prev_id),
            self.inner.chain_id,
            self.inner.timestamp_ms,
            self.inner.nonce
        )
    }
}

/// A block: a header and its transactions (frozen, hashable; equal when the
/// full contents are, see `content_hash`).
#[pyclass(frozen, module = "swarmmesh", name = "Block")]
pub(crate) struct PyBlock {
    pub(crate) inner: Block,
    /// The transaction ids, in order (hashed once).
    pub(crate) tx_ids: Vec<Hash32>,
    pub(crate) content_hash: Hash32,
    header: Py<PyBlockHeader>,
    txs: Py<PyTuple>,
    bytes: Py<PyBytes>,
}

impl PyBlock {
    /// Assembles a block from its Python parts, reusing their cached bytes and ids.
    fn assemble(
        py: Python<'_>,
        header: Bound<'_, PyBlockHeader>,
        txs: &[Bound<'_, PyTransaction>],
    ) -> PyResult<Self> {
        let h = header.get();
        let mut w = crate::codec::Writer::with_capacity(
            h.inner.encoded_len()
                + 4
                + txs.iter().map(|t| 4 + t.get().raw(py).len()).sum::<usize>(),
        );
        h.inner.encode(&mut w);
        w.u32(txs.len() as u32);
        for t in txs {
            let raw = t.get().raw(py);
            w.u32(raw.len() as u32).raw(raw);
        }
        let bytes = w.into_bytes();
        Ok(Self {
            inner: Block {
                header: h.inner.clone(),
                txs: txs.iter().map(|t| t.get().inner.clone()).collect(),
            },
            tx_ids: txs.iter().map(|t| t.get().id).collect(),
            content_hash: sha256(&bytes),
            header: header.unbind(),
            txs: PyTuple::new(py, txs)?.unbind(),
            bytes: PyBytes::new(py, &bytes).unbind(),
        })
    }
}

#[pymethods]
impl PyBlock {
    /// A block from a header and its transactions (the reward first).
    #[new]
    fn new(
        py: Python<'_>,
        header: Bound<'_, PyBlockHeader>,
        txs: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let mut list = Vec::new();
        for item in txs.try_iter()? {
            let item = item?;
            let tx = item.cast_into::<PyTransaction>().map_err(|_| {
                argument_type_error("txs", "argument `txs` must hold Transactions".to_owned())
            })?;
            list.push(tx);
        }
        Self::assemble(py, header, &list)
    }

    /// Decodes canonical bytes; `DecodeError` (with `reason`) on anything else.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Self> {
        let data = id_bytes("data", data)?;
        let (block, ids) = if data.len() >= BLOCK_DETACH_MIN {
            py.detach(|| Block::decode_with_ids(&data))?
        } else {
            Block::decode_with_ids(&data)?
        };
        let header = Bound::new(py, PyBlockHeader::wrap(py, block.header.clone()))?;
        // The input is canonical (it decoded), so each transaction's bytes are the
        // slice after its u32 length prefix: reuse them instead of re-encoding.
        let mut at = block.header.encoded_len() + 4;
        let mut txs = Vec::with_capacity(block.txs.len());
        for (tx, id) in block.txs.iter().zip(&ids) {
            let len = tx.encoded_len();
            let raw = data
                .get(at + 4..at + 4 + len)
                .map_or_else(|| tx.to_bytes(), <[u8]>::to_vec);
            at += 4 + len;
            txs.push(Bound::new(
                py,
                PyTransaction {
                    inner: tx.clone(),
                    id: *id,
                    id_obj: PyBytes::new(py, id).unbind(),
                    bytes: PyBytes::new(py, &raw).unbind(),
                    signature_ok: AtomicBool::new(false),
                },
            )?);
        }
        Ok(Self {
            content_hash: sha256(&data),
            inner: block,
            tx_ids: ids,
            header: header.unbind(),
            txs: PyTuple::new(py, txs)?.unbind(),
            bytes: PyBytes::new(py, &data).unbind(),
        })
    }

    /// The header.
    #[getter]
    fn header(&self, py: Python<'_>) -> Py<PyBlockHeader> {
        self.header.clone_ref(py)
    }

    /// The transactions, in order (a tuple).
    #[getter]
    fn txs(&self, py: Python<'_>) -> Py<PyTuple> {
        self.txs.clone_ref(py)
    }

    /// The block id (the header's id).
    #[getter]
    fn id(&self, py: Python<'_>) -> Py<PyBytes> {
        self.header.get().id_obj.clone_ref(py)
    }

    /// SHA-256 of the full block bytes: invalid blocks are remembered by it.
    #[getter]
    fn content_hash<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.content_hash)
    }

    /// The encoded length in bytes.
    #[getter]
    fn size(&self, py: Python<'_>) -> usize {
        self.bytes.bind(py).as_bytes().len()
    }

    /// The transaction ids, in order.
    fn tx_ids<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.tx_ids.iter().map(|id| PyBytes::new(py, id)))
    }

    /// The canonical bytes.
    fn to_bytes(&self, py: Python<'_>) -> Py<PyBytes> {
        self.bytes.clone_ref(py)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyBlock>()
            .is_ok_and(|o| o.get().content_hash == self.content_hash)
    }

    fn __hash__(&self) -> u64 {
        hash_of(&self.content_hash)
    }

    fn __len__(&self) -> usize {
        self.inner.txs.len()
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        reduce_via_from_bytes::<Self>(py, slf.get().bytes.bind(py).clone())
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Block(height={}, id={}.., txs={}, size={})",
            self.inner.header.height,
            short_hex(&self.header.get().id),
            self.inner.txs.len(),
            self.bytes.bind(py).as_bytes().len()
        )
    }
}

/// The Merkle root of 32-byte transaction ids (domain-separated leaves and
/// nodes, odd node promoted; the empty list has its own root). Long lists are
/// hashed with the GIL released, over `threads` workers (default: every core).
#[pyfunction]
#[pyo3(signature = (tx_ids, *, threads = None))]
fn merkle_root<'py>(
    py: Python<'py>,
    tx_ids: &Bound<'py, PyAny>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyBytes>> {
    let threads = thread_count(threads)?;
    let mut ids: Vec<Hash32> = Vec::with_capacity(tx_ids.len().unwrap_or(0));
    for item in tx_ids.try_iter()? {
        let item = item?;
        if let Ok(b) = item.cast::<PyBytes>() {
            let id = <Hash32>::try_from(b.as_bytes()).map_err(|_| {
                CoreError::invalid(
                    "tx_ids",
                    format!("every id must be 32 bytes, got {}", b.as_bytes().len()),
                )
            })?;
            ids.push(id);
        } else {
            ids.push(fixed("tx_ids", &item)?);
        }
    }
    let root = if ids.len() >= MERKLE_DETACH_MIN {
        py.detach(|| chain::merkle_root_with_threads(&ids, threads))
    } else {
        chain::merkle_root(&ids)
    };
    Ok(PyBytes::new(py, &root))
}

/// Searches nonces from `start_nonce` (default: the header's nonce) for a
/// header whose id meets its target, with the GIL released.
///
/// Tries at most `max_iters` nonces (default: until found or the nonce space
/// ends) and returns the header with the winning nonce, or None. Long searches
/// run in slices and handle signals between them, so Ctrl-C interrupts them;
/// to cancel from asyncio, call with a bounded `max_iters` in a thread.
#[pyfunction]
#[pyo3(signature = (header, *, max_iters = None, start_nonce = None))]
fn mine(
    py: Python<'_>,
    header: &Bound<'_, PyBlockHeader>,
    max_iters: Option<&Bound<'_, PyAny>>,
    start_nonce: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<PyBlockHeader>> {
    let h = &header.get().inner;
    let mut left = match max_iters {
        Some(m) => u64_arg("max_iters", m)?,
        None => u64::MAX,
    };
    let mut nonce = match start_nonce {
        Some(n) => u64_arg("start_nonce", n)?,
        None => h.nonce,
    };
    while left > 0 {
        let n = left.min(MINE_SLICE);
        if let Some(found) = py.detach(|| pow::mine(h, nonce, n)) {
            return Ok(Some(PyBlockHeader::wrap(py, found)));
        }
        left -= n;
        match nonce.checked_add(n) {
            Some(next) => nonce = next,
            None => break,
        }
        py.check_signals()?;
    }
    Ok(None)
}

/// The id of the token `symbol` created by `creator_address` (an address or
/// a 32-byte key): `sha256(b"swarmmesh/token/v1" || creator || len(symbol) || symbol)`.
#[pyfunction]
fn token_id<'py>(
    py: Python<'py>,
    creator_address: &Bound<'py, PyAny>,
    symbol: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let creator = account("creator_address", creator_address)?;
    check_symbol_encodable("symbol", symbol)?;
    Ok(PyBytes::new(py, &chain::token_id(&creator, symbol)))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTransaction>()?;
    m.add_class::<PyBlockHeader>()?;
    m.add_class::<PyBlock>()?;
    m.add_function(wrap_pyfunction!(merkle_root, m)?)?;
    m.add_function(wrap_pyfunction!(mine, m)?)?;
    m.add_function(wrap_pyfunction!(token_id, m)?)?;
    m.add("HEADER_VERSION", HEADER_VERSION)?;
    Ok(())
}
