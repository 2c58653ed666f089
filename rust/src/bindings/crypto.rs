//! Ed25519 keys and signatures, SHA-256 and addresses.

use std::sync::OnceLock;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::args::id_bytes;
use super::errors::argument_type_error;
use crate::crypto::{self, BatchItem, PUBLIC_KEY_LEN, SEED_LEN, SIGNATURE_LEN, SecretKey};
use crate::error::CoreError;

/// Batches at least this long are verified with the GIL released.
const DETACH_MIN_SIGS: usize = 8;

/// Exactly `N` bytes from a `bytes`-like argument.
pub(crate) fn fixed<const N: usize>(
    arg: &'static str,
    obj: &Bound<'_, PyAny>,
) -> PyResult<[u8; N]> {
    let b = id_bytes(arg, obj)?;
    <[u8; N]>::try_from(b.as_ref())
        .map_err(|_| CoreError::invalid(arg, format!("must be {N} bytes, got {}", b.len())).into())
}

/// The worker threads for a batch: `threads` if given, else the machine's cores.
pub(crate) fn thread_count(threads: Option<usize>) -> PyResult<usize> {
    match threads {
        Some(0) => Err(CoreError::invalid("threads", "must be >= 1").into()),
        Some(n) => Ok(n),
        None => Ok(cores()),
    }
}

/// The cores this process may use, read once: `available_parallelism` reads
/// the cgroup CPU quota from /proc and /sys on every call (about 12 us here),
/// which was most of the cost of a small `apply_sequence` or `verify_batch`.
fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
}

/// An Ed25519 signing key (the secret half of a `swarmmesh.Keypair`).
#[pyclass(frozen, module = "swarmmesh._core", name = "SigningKey")]
pub(crate) struct PySigningKey {
    pub(crate) inner: SecretKey,
}

#[pymethods]
impl PySigningKey {
    /// The key whose RFC 8032 secret is the 32-byte `seed`.
    #[new]
    fn new(seed: &Bound<'_, PyAny>) -> PyResult<Self> {
        let seed: [u8; SEED_LEN] = fixed("seed", seed)?;
        Ok(Self {
            inner: SecretKey::from_seed(&seed),
        })
    }

    /// The 32-byte public key.
    #[getter]
    fn public_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.public_key())
    }

    /// The 32-byte secret seed.
    fn seed<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.seed())
    }

    /// The 64-byte signature of `data`.
    fn sign<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let data = id_bytes("data", data)?;
        Ok(PyBytes::new(py, &self.inner.sign(&data)))
    }

    fn __repr__(&self) -> String {
        format!(
            "SigningKey(public={})",
            crypto::address_of(&self.inner.public_key())
        )
    }
}

/// SHA-256 of `data`.
#[pyfunction]
fn sha256<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let data = id_bytes("data", data)?;
    Ok(PyBytes::new(py, &crypto::sha256(&data)))
}

/// Whether `signature` is a valid Ed25519 signature of `data` by `public_key`.
///
/// A key or signature of the right length that is not valid gives `False`; a
/// wrong length is a caller error (`InvalidArgumentError`).
#[pyfunction]
fn verify(
    public_key: &Bound<'_, PyAny>,
    data: &Bound<'_, PyAny>,
    signature: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    let pk: [u8; PUBLIC_KEY_LEN] = fixed("public_key", public_key)?;
    let sig: [u8; SIGNATURE_LEN] = fixed("signature", signature)?;
    let data = id_bytes("data", data)?;
    Ok(crypto::verify(&pk, &data, &sig))
}

/// One verdict per (public key, message, signature) triple, by batch
/// verification spread over `threads` workers (default: every core), with the
/// GIL released.
#[pyfunction]
#[pyo3(signature = (public_keys, messages, signatures, *, threads = None))]
#[allow(clippy::needless_pass_by_value)] // PyO3 extracts sequences as owned Vecs
fn verify_batch(
    py: Python<'_>,
    public_keys: Vec<Bound<'_, PyAny>>,
    messages: Vec<Bound<'_, PyAny>>,
    signatures: Vec<Bound<'_, PyAny>>,
    threads: Option<usize>,
) -> PyResult<Vec<bool>> {
    let threads = thread_count(threads)?;
    if public_keys.len() != messages.len() || messages.len() != signatures.len() {
        return Err(CoreError::invalid(
            "messages",
            format!(
                "public_keys, messages and signatures must have one length, got {}, {}, {}",
                public_keys.len(),
                messages.len(),
                signatures.len()
            ),
        )
        .into());
    }
    let pks = public_keys
        .iter()
        .map(|o| fixed::<PUBLIC_KEY_LEN>("public_keys", o))
        .collect::<PyResult<Vec<_>>>()?;
    let sigs = signatures
        .iter()
        .map(|o| fixed::<SIGNATURE_LEN>("signatures", o))
        .collect::<PyResult<Vec<_>>>()?;
    let msgs = messages
        .iter()
        .map(|o| id_bytes("messages", o).map(std::borrow::Cow::into_owned))
        .collect::<PyResult<Vec<_>>>()?;
    let run = || {
        let items: Vec<BatchItem<'_>> = (0..pks.len())
            .map(|i| BatchItem {
                public_key: &pks[i],
                msg: &msgs[i],
                sig: &sigs[i],
            })
            .collect();
        crypto::verify_batch(&items, threads)
    };
    if pks.len() >= DETACH_MIN_SIGS {
        Ok(py.detach(run))
    } else {
        Ok(run())
    }
}

/// The address (`sw1...`, bech32m with a checksum) of a 32-byte public key.
#[pyfunction]
fn address_of(public_key: &Bound<'_, PyAny>) -> PyResult<String> {
    let pk: [u8; PUBLIC_KEY_LEN] = fixed("public_key", public_key)?;
    Ok(crypto::address_of(&pk))
}

/// The 32-byte public key an address encodes; `InvalidArgumentError` if the
/// address is malformed, mistyped or not canonical.
#[pyfunction]
fn public_key_of<'py>(py: Python<'py>, address: &str) -> PyResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(py, &crypto::public_key_of(address)?))
}

/// The largest bound `reset_key_cache` accepts (about 200 MB when full).
const MAX_KEY_CACHE: usize = 1 << 20;

/// Size and counters of the cache of decompressed public keys that signature
/// verification keeps: `entries`, `capacity`, `hits`, `misses`.
#[pyfunction]
fn key_cache_stats(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let s = crypto::key_cache_stats();
    let d = PyDict::new(py);
    d.set_item("entries", s.entries)?;
    d.set_item("capacity", s.capacity)?;
    d.set_item("hits", s.hits)?;
    d.set_item("misses", s.misses)?;
    Ok(d)
}

/// Empties the decompressed-key cache and bounds it to `capacity` keys (0
/// turns it off; `None`, the default, restores the default bound of 16 384).
/// Verdicts never depend on the cache; only speed does.
#[pyfunction]
#[pyo3(signature = (capacity = None))]
fn reset_key_cache(capacity: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    let Some(capacity) = capacity else {
        crypto::reset_key_cache(crypto::keycache::DEFAULT_CAPACITY);
        return Ok(());
    };
    let value: i64 = capacity.extract().map_err(|_| {
        argument_type_error("capacity", format!("an int, got {}", capacity.get_type()))
    })?;
    let value = usize::try_from(value)
        .ok()
        .filter(|c| *c <= MAX_KEY_CACHE)
        .ok_or_else(|| {
            CoreError::invalid(
                "capacity",
                format!("an int in [0, {MAX_KEY_CACHE}], got {value}"),
            )
        })?;
    crypto::reset_key_cache(value);
    Ok(())
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(key_cache_stats, m)?)?;
    m.add_function(wrap_pyfunction!(reset_key_cache, m)?)?;
    m.add_class::<PySigningKey>()?;
    m.add_function(wrap_pyfunction!(sha256, m)?)?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(verify_batch, m)?)?;
    m.add_function(wrap_pyfunction!(address_of, m)?)?;
    m.add_function(wrap_pyfunction!(public_key_of, m)?)?;
    Ok(())
}
