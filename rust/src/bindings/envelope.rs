//! `swarmmesh.Envelope`, `verify_envelopes`, `EnvelopeVerifier`, `split_frame`
//! and `Reassembler`.

#[cfg(unix)]
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::hash::{DefaultHasher, Hash, Hasher};
#[cfg(unix)]
use std::io::{ErrorKind, Read, Write as _};
#[cfg(unix)]
use std::os::fd::AsRawFd;
#[cfg(unix)]
use std::os::unix::net::UnixStream;
#[cfg(unix)]
use std::panic::AssertUnwindSafe;
#[cfg(unix)]
use std::sync::Arc;
#[cfg(unix)]
use std::sync::mpsc::{self, SyncSender, TrySendError};

use parking_lot::Mutex;
use pyo3::basic::CompareOp;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyString};

use super::args::{id_bytes, non_negative};
use super::crypto::{PySigningKey, fixed, thread_count};
use super::errors::argument_type_error;
use crate::chunk::{
    self, CHUNK_HEADER_LEN, CHUNK_ID_LEN, FRAME_CHUNK, Reassembler, ReassemblerConfig,
};
use crate::crypto::{self, PUBLIC_KEY_LEN, SIGNATURE_LEN};
use crate::envelope::{
    self, Envelope, FRAME_ENVELOPE, Kind, MAX_CONTROL_PAYLOAD, MAX_ENVELOPE_LEN, MAX_PAYLOAD,
    MAX_TOPIC, MESSAGE_ID_LEN,
};
use crate::error::CoreError;

/// A signer thread splits a batch only into runs at least this long.
#[cfg(unix)]
const SIGN_MIN_PER_THREAD: usize = 32;
/// Batches at least this long are verified with the GIL released.
const DETACH_MIN_ENVELOPES: usize = 8;
/// Payloads at least this long are hashed and copied with the GIL released.
const DETACH_MIN_BYTES: usize = 64 << 10;

/// A `u8` argument (`InvalidArgumentError` naming it when out of range).
fn small_int(arg: &'static str, value: i64) -> Result<u8, CoreError> {
    u8::try_from(value)
        .map_err(|_| CoreError::invalid(arg, format!("must be in [0, 255], got {value}")))
}

/// A payload: `bytes` is kept as is (no copy), `bytearray` and `memoryview`
/// are copied; `str` is refused (encode it first).
fn payload_arg(obj: &Bound<'_, PyAny>) -> PyResult<Py<PyBytes>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.clone().unbind());
    }
    if obj.cast::<PyString>().is_ok() {
        return Err(argument_type_error(
            "payload",
            "argument `payload` must be bytes, bytearray or memoryview, not str (encode it)"
                .to_owned(),
        ));
    }
    let bytes = id_bytes("payload", obj)?;
    Ok(PyBytes::new(obj.py(), &bytes).unbind())
}

fn kind_name(py: Python<'_>, kind: Kind) -> Bound<'_, PyString> {
    match kind {
        Kind::Data => intern!(py, "data").clone(),
        Kind::Ack => intern!(py, "ack").clone(),
        Kind::Nack => intern!(py, "nack").clone(),
        Kind::Broadcast => intern!(py, "broadcast").clone(),
        Kind::Ping => intern!(py, "ping").clone(),
        Kind::Pong => intern!(py, "pong").clone(),
    }
}

/// One mesh message: the frame every transport carries (immutable).
///
/// `Envelope(kind, message_id, origin, topic, payload, *, ttl=8, hops=0,
/// timestamp_ms=0, target=None, signature=None)`. `kind` is one of `"data"`,
/// `"ack"`, `"nack"`, `"broadcast"`, `"ping"`, `"pong"`; `message_id` has 16
/// bytes; `origin` and `target` are 32-byte public keys; `topic` is at most 255
/// bytes of UTF-8 and `payload` at most `MAX_PAYLOAD` bytes (`MAX_CONTROL_PAYLOAD`
/// for ack, nack, ping and pong). A broadcast has no target and must be signed
/// (`signed()`) before `to_bytes()`. Two envelopes are equal when every field
/// is; envelopes are hashable.
#[pyclass(frozen, module = "swarmmesh", name = "Envelope")]
pub(crate) struct PyEnvelope {
    inner: Envelope<Py<PyBytes>>,
    /// The origin's address, computed on first use (bech32m costs about a
    /// microsecond, and the mesh asks for it once per message).
    origin_id: PyOnceLock<Py<PyString>>,
}

impl PyEnvelope {
    fn wrap(inner: Envelope<Py<PyBytes>>) -> Self {
        Self {
            inner,
            origin_id: PyOnceLock::new(),
        }
    }

    fn payload_bytes<'a>(&'a self, py: Python<'_>) -> &'a [u8] {
        self.inner.payload.as_bytes(py)
    }

    fn with(&self, py: Python<'_>, inner: &Envelope<()>) -> Self {
        let out = Self::wrap(inner.with_payload(self.inner.payload.clone_ref(py)));
        if inner.origin == self.inner.origin {
            if let Some(id) = self.origin_id.get(py) {
                let _ = out.origin_id.set(py, id.clone_ref(py));
            }
        }
        out
    }

    fn header(&self) -> Envelope<()> {
        self.inner.with_payload(())
    }
}

#[pymethods]
impl PyEnvelope {
    #[new]
    #[pyo3(signature = (kind, message_id, origin, topic, payload, *, ttl = 8, hops = 0,
                        timestamp_ms = 0, target = None, signature = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        kind: &str,
        message_id: &Bound<'_, PyAny>,
        origin: &Bound<'_, PyAny>,
        topic: String,
        payload: &Bound<'_, PyAny>,
        ttl: i64,
        hops: i64,
        timestamp_ms: i128,
        target: Option<&Bound<'_, PyAny>>,
        signature: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let py = payload.py();
        let inner = Envelope {
            kind: Kind::parse(kind)?,
            message_id: fixed::<MESSAGE_ID_LEN>("message_id", message_id)?,
            origin: fixed::<PUBLIC_KEY_LEN>("origin", origin)?,
            target: target
                .map(|t| fixed::<PUBLIC_KEY_LEN>("target", t))
                .transpose()?,
            ttl: small_int("ttl", ttl)?,
            hops: small_int("hops", hops)?,
            timestamp_ms: u64::try_from(timestamp_ms).map_err(|_| {
                CoreError::invalid(
                    "timestamp_ms",
                    format!("must be in [0, 2**64), got {timestamp_ms}"),
                )
            })?,
            topic,
            payload: payload_arg(payload)?,
            signature: signature
                .map(|s| fixed::<SIGNATURE_LEN>("signature", s))
                .transpose()?,
        };
        inner.check_with(inner.payload.as_bytes(py))?;
        Ok(Self::wrap(inner))
    }

    /// `"data"`, `"ack"`, `"nack"`, `"broadcast"`, `"ping"` or `"pong"`.
    #[getter]
    fn kind<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        kind_name(py, self.inner.kind)
    }

    /// The 16-byte message id (for ack, nack and pong: the id answered).
    #[getter]
    fn message_id<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.message_id)
    }

    /// The originator's 32-byte public key.
    #[getter]
    fn origin<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.origin)
    }

    /// The originator's address (`sw1...`): its peer id.
    #[getter]
    fn origin_id<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        self.origin_id
            .get_or_init(py, || {
                PyString::new(py, &crypto::address_of(&self.inner.origin)).unbind()
            })
            .bind(py)
            .clone()
    }

    /// The final recipient's 32-byte public key, None for a broadcast.
    #[getter]
    fn target<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.inner.target.map(|t| PyBytes::new(py, &t))
    }

    /// Hops left (relays decrement it; not covered by the signature).
    #[getter]
    fn ttl(&self) -> u8 {
        self.inner.ttl
    }

    /// Hops travelled (relays increment it; not covered by the signature).
    #[getter]
    fn hops(&self) -> u8 {
        self.inner.hops
    }

    /// The originator's clock when it made the envelope, in ms.
    #[getter]
    fn timestamp_ms(&self) -> u64 {
        self.inner.timestamp_ms
    }

    /// The topic.
    #[getter]
    fn topic(&self) -> &str {
        &self.inner.topic
    }

    /// The payload.
    #[getter]
    fn payload(&self, py: Python<'_>) -> Py<PyBytes> {
        self.inner.payload.clone_ref(py)
    }

    /// The origin's 64-byte Ed25519 signature, or None.
    #[getter]
    fn signature<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.inner.signature.map(|s| PyBytes::new(py, &s))
    }

    /// The canonical frame. `InvalidArgumentError` for an unsigned broadcast.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let payload = self.payload_bytes(py);
        let len = self.inner.encoded_len(payload.len());
        PyBytes::new_with(py, len, |buf| {
            self.inner.encode_into(payload, buf).map_err(PyErr::from)
        })
    }

    /// Decodes a frame; `DecodeError` (with `.reason`) on anything that is not
    /// the canonical encoding of a valid envelope (an unsigned broadcast
    /// included).
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        let e = envelope::decode(data)?;
        let payload = PyBytes::new(py, e.payload).unbind();
        Ok(Self::wrap(e.with_payload(payload)))
    }

    /// The bytes the origin signs: a domain separator and every field but
    /// `ttl`, `hops` and the signature.
    fn signing_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.signing_bytes_with(self.payload_bytes(py)))
    }

    /// A copy signed by `key` (a `Keypair` or `SigningKey`), which must be the
    /// origin's key (else `InvalidArgumentError` naming `key`).
    fn signed(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Self> {
        let payload = self.payload_bytes(py);
        let sig = if let Ok(k) = key.cast::<PySigningKey>() {
            self.inner.sign_with(&k.get().inner, payload)?
        } else {
            // Any signer with `public_key` and `sign(data)`: a Keypair.
            let not_a_key = || {
                argument_type_error(
                    "key",
                    format!(
                        "argument `key` must be a Keypair or SigningKey, not {}",
                        key.get_type()
                            .name()
                            .map_or_else(|_| "?".to_owned(), |n| n.to_string())
                    ),
                )
            };
            let public = key
                .getattr(intern!(py, "public_key"))
                .map_err(|_| not_a_key())?;
            let public: [u8; PUBLIC_KEY_LEN] = fixed("key", &public)?;
            if public != self.inner.origin {
                return Err(CoreError::invalid(
                    "key",
                    format!(
                        "the key of {} cannot sign for origin {}",
                        crypto::address_of(&public),
                        crypto::address_of(&self.inner.origin)
                    ),
                )
                .into());
            }
            let msg = PyBytes::new(py, &self.inner.signing_bytes_with(payload));
            let sig = key
                .call_method1(intern!(py, "sign"), (msg,))
                .map_err(|_| not_a_key())?;
            fixed::<SIGNATURE_LEN>("key", &sig)?
        };
        let mut header = self.header();
        header.signature = Some(sig);
        Ok(self.with(py, &header))
    }

    /// Whether the envelope carries a valid signature by its origin (an
    /// unsigned envelope is not valid).
    fn verify(&self, py: Python<'_>) -> bool {
        let payload = self.payload_bytes(py);
        if payload.len() >= DETACH_MIN_BYTES {
            py.detach(|| self.inner.verify_with(payload))
        } else {
            self.inner.verify_with(payload)
        }
    }

    /// The envelope as a relay sends it on: `ttl - 1`, `hops + 1`, the
    /// signature still valid. `InvalidArgumentError` at ttl 0 or 255 hops.
    fn forwarded(&self, py: Python<'_>) -> PyResult<Self> {
        Ok(self.with(py, &self.header().forwarded()?))
    }

    fn __richcmp__(
        &self,
        py: Python<'_>,
        other: &Bound<'_, PyAny>,
        op: CompareOp,
    ) -> PyResult<Py<PyAny>> {
        let Ok(other) = other.cast::<PyEnvelope>() else {
            return Ok(py.NotImplemented());
        };
        let other = other.get();
        let equal = std::ptr::eq(self, other)
            || (self.header() == other.header()
                && self.payload_bytes(py) == other.payload_bytes(py));
        let answer = match op {
            CompareOp::Eq => equal,
            CompareOp::Ne => !equal,
            _ => return Ok(py.NotImplemented()),
        };
        Ok(answer.into_pyobject(py)?.to_owned().into_any().unbind())
    }

    fn __hash__(&self, py: Python<'_>) -> u64 {
        let mut h = DefaultHasher::new();
        self.header().hash(&mut h);
        self.payload_bytes(py).hash(&mut h);
        h.finish()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let e = &self.inner;
        let hex = e.message_id.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        });
        format!(
            "Envelope(kind='{}', message_id={hex}, origin={}, target={}, topic={:?}, payload=<{} bytes>, ttl={}, hops={}, timestamp_ms={}, signed={})",
            e.kind,
            crypto::address_of(&e.origin),
            e.target
                .map_or_else(|| "None".to_owned(), |t| crypto::address_of(&t)),
            e.topic,
            self.payload_bytes(py).len(),
            e.ttl,
            e.hops,
            e.timestamp_ms,
            if e.signature.is_some() {
                "True"
            } else {
                "False"
            }
        )
    }
}

/// One verdict per envelope, in order: whether it carries a valid signature
/// by its origin (unsigned is False). Batch verification over `threads`
/// workers (default: every core) with the GIL released.
#[pyfunction]
#[pyo3(signature = (envelopes, *, threads = None))]
#[allow(clippy::needless_pass_by_value)] // PyO3 extracts sequences as owned Vecs
fn verify_envelopes(
    py: Python<'_>,
    envelopes: Vec<Bound<'_, PyEnvelope>>,
    threads: Option<usize>,
) -> PyResult<Vec<bool>> {
    let threads = thread_count(threads)?;
    let items: Vec<(&Envelope<Py<PyBytes>>, &[u8])> = envelopes
        .iter()
        .map(|e| {
            let e = e.get();
            (&e.inner, e.payload_bytes(py))
        })
        .collect();
    let run = || envelope::verify_batch(&items, threads);
    if items.len() >= DETACH_MIN_ENVELOPES {
        Ok(py.detach(run))
    } else {
        Ok(run())
    }
}

/// A thread of the core that runs jobs without ever taking the GIL, and tells
/// the event loop that results are ready by making a descriptor readable (one
/// end of a socket pair, for `loop.add_reader`). At most `max_jobs` jobs are
/// submitted and not collected; results come back in submission order.
#[cfg(unix)]
struct Worker<J, R> {
    jobs: Mutex<Option<SyncSender<(u64, J)>>>,
    done: Arc<Mutex<VecDeque<Finished<R>>>>,
    wake: UnixStream,
    state: Mutex<WorkerState>,
    max_jobs: usize,
}

/// A finished job: its id and its result (None if the work panicked).
#[cfg(unix)]
type Finished<R> = (u64, Option<R>);

/// Job ids and the count of jobs submitted but not collected.
#[cfg(unix)]
struct WorkerState {
    next_id: u64,
    pending: usize,
}

#[cfg(unix)]
impl<J: Send + 'static, R: Send + 'static> Worker<J, R> {
    fn spawn(name: &str, max_jobs: i64, work: impl Fn(J) -> R + Send + 'static) -> PyResult<Self> {
        let max_jobs = usize::try_from(max_jobs)
            .ok()
            .filter(|n| (1..=1024).contains(n))
            .ok_or_else(|| {
                CoreError::invalid("max_jobs", format!("must be in [1, 1024], got {max_jobs}"))
            })?;
        let (wake, mut notify) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        notify.set_nonblocking(true)?;
        let (tx, rx) = mpsc::sync_channel::<(u64, J)>(max_jobs);
        let done = Arc::new(Mutex::new(VecDeque::new()));
        let shared = Arc::clone(&done);
        // Detached: once `close()` (or drop) ends the channel, the thread finishes
        // its current job and returns on its own; the loop never waits for it.
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while let Ok((id, job)) = rx.recv() {
                    // The work is total, but should it ever panic the job is reported
                    // failed (None) and the thread goes on: the loop waiting for its
                    // results must never wait for a thread that is gone.
                    let out = std::panic::catch_unwind(AssertUnwindSafe(|| work(job))).ok();
                    shared.lock().push_back((id, out));
                    // Non-blocking: a full buffer already holds a wake-up for the reader.
                    let _ = notify.write(&[1]);
                }
            })?;
        Ok(Self {
            jobs: Mutex::new(Some(tx)),
            done,
            wake,
            state: Mutex::new(WorkerState {
                next_id: 0,
                pending: 0,
            }),
            max_jobs,
        })
    }

    fn fileno(&self) -> i32 {
        self.wake.as_raw_fd()
    }

    fn pending(&self) -> usize {
        self.state.lock().pending
    }

    /// Queues the job made by `make` (called only if there is room); its id, or
    /// None when `max_jobs` are pending.
    fn submit(&self, make: impl FnOnce() -> PyResult<J>) -> PyResult<Option<u64>> {
        let mut state = self.state.lock();
        if state.pending >= self.max_jobs {
            return Ok(None);
        }
        let jobs = self.jobs.lock();
        let Some(tx) = jobs.as_ref() else {
            return Err(CoreError::invalid("self", "the worker is closed").into());
        };
        let id = state.next_id;
        match tx.try_send((id, make()?)) {
            Ok(()) => {
                state.next_id += 1;
                state.pending += 1;
                Ok(Some(id))
            }
            Err(TrySendError::Full(_)) => Ok(None),
            Err(TrySendError::Disconnected(_)) => {
                Err(CoreError::invalid("self", "the worker thread has ended").into())
            }
        }
    }

    fn results(&self) -> Vec<(u64, Option<R>)> {
        let mut buf = [0_u8; 64];
        loop {
            match (&self.wake).read(&mut buf) {
                Ok(n) if n == buf.len() => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                _ => break, // drained (WouldBlock), or the thread is gone (0, an error)
            }
        }
        let out: Vec<(u64, Option<R>)> = self.done.lock().drain(..).collect();
        let mut state = self.state.lock();
        state.pending = state.pending.saturating_sub(out.len());
        out
    }

    fn close(&self) {
        self.jobs.lock().take();
    }

    fn describe(&self, what: &str) -> String {
        let closed = self.jobs.lock().is_none();
        format!(
            "{what}(max_jobs={}, pending={}, closed={})",
            self.max_jobs,
            self.pending(),
            if closed { "True" } else { "False" }
        )
    }
}

/// Owned copies of envelopes, for a worker thread.
#[cfg(unix)]
fn owned(py: Python<'_>, envelopes: &[Bound<'_, PyEnvelope>]) -> Vec<Envelope<Vec<u8>>> {
    envelopes
        .iter()
        .map(|e| {
            let e = e.get();
            e.inner.with_payload(e.payload_bytes(py).to_vec())
        })
        .collect()
}

/// Verifies batches of envelopes on a thread of its own, which never takes the
/// GIL: the event loop keeps running while a batch is checked, and learns that
/// one is done from a readable file descriptor (`loop.add_reader(fileno(), ...)`).
///
/// `EnvelopeVerifier(*, threads=None, max_jobs=4)`: each batch is verified over
/// `threads` workers (default: every core), as `verify_envelopes` does; at most
/// `max_jobs` batches are submitted and not yet collected. `submit(envelopes)`
/// copies the envelopes and returns the job's id (None when `max_jobs` are
/// pending: verify that batch some other way); `results()` returns the
/// `(id, verdicts)` of the jobs done since the last call, in submission order,
/// and drains the descriptor. `close()` lets the thread finish its current
/// batch and end; it is idempotent and also happens when the verifier is
/// dropped. Unix only (the descriptor is one end of a socket pair).
#[cfg(unix)]
#[pyclass(frozen, module = "swarmmesh", name = "EnvelopeVerifier")]
pub(crate) struct PyEnvelopeVerifier {
    worker: Worker<Vec<Envelope<Vec<u8>>>, Vec<bool>>,
}

#[cfg(unix)]
#[pymethods]
impl PyEnvelopeVerifier {
    #[new]
    #[pyo3(signature = (*, threads = None, max_jobs = 4))]
    fn new(threads: Option<usize>, max_jobs: i64) -> PyResult<Self> {
        let threads = thread_count(threads)?;
        let worker = Worker::spawn(
            "swarmmesh-verifier",
            max_jobs,
            move |envs: Vec<Envelope<Vec<u8>>>| envelope::verify_envelopes(&envs, threads),
        )?;
        Ok(Self { worker })
    }

    /// The descriptor that becomes readable when a job is done.
    fn fileno(&self) -> i32 {
        self.worker.fileno()
    }

    /// Jobs submitted and not collected by `results()` yet.
    #[getter]
    fn pending(&self) -> usize {
        self.worker.pending()
    }

    /// Copies `envelopes` and queues them as one job; its id, or None when
    /// `max_jobs` are pending. `InvalidArgumentError` once closed.
    #[allow(clippy::needless_pass_by_value)] // PyO3 extracts sequences as owned Vecs
    fn submit(
        &self,
        py: Python<'_>,
        envelopes: Vec<Bound<'_, PyEnvelope>>,
    ) -> PyResult<Option<u64>> {
        self.worker.submit(|| Ok(owned(py, &envelopes)))
    }

    /// The `(id, verdicts)` of every job done since the last call, in order;
    /// `verdicts` is None for a job whose verification failed (it cannot, but
    /// the thread survives it if it ever does).
    fn results(&self) -> Vec<(u64, Option<Vec<bool>>)> {
        self.worker.results()
    }

    /// Stops taking jobs; the thread ends after the batch it is on. Idempotent.
    fn close(&self) {
        self.worker.close();
    }

    fn __repr__(&self) -> String {
        self.worker.describe("EnvelopeVerifier")
    }
}

/// Signs and encodes batches of envelopes with one key on a thread of its own,
/// which never takes the GIL (the same machinery as `EnvelopeVerifier`).
///
/// `EnvelopeSigner(key, *, threads=None, max_jobs=4)`: `key` is a `SigningKey`;
/// a batch is signed over at most `threads` threads (default: every core);
/// `submit(envelopes)` checks that `key` is every envelope's origin (else
/// `InvalidArgumentError` naming `key`), copies them and returns the job's id
/// (None when `max_jobs` are pending); `results()` returns the
/// `(id, frames)` of the jobs done since the last call, in submission order:
/// each frame is the envelope signed by `key`, as `to_bytes()` encodes it.
/// `close()` as for the verifier. Unix only.
#[cfg(unix)]
#[pyclass(frozen, module = "swarmmesh", name = "EnvelopeSigner")]
pub(crate) struct PyEnvelopeSigner {
    worker: Worker<Vec<Envelope<Vec<u8>>>, Vec<Vec<u8>>>,
    origin: [u8; PUBLIC_KEY_LEN],
}

/// The frame of `env` signed by `key` (whose public key is the origin: checked
/// at submission, so signing and encoding cannot fail).
#[cfg(unix)]
fn sign_frame(key: &crypto::SecretKey, mut env: Envelope<Vec<u8>>) -> Vec<u8> {
    env.signature = None;
    let sig = key.sign(&env.signing_bytes_with(&env.payload));
    env.signature = Some(sig);
    let mut out = vec![0; env.encoded_len(env.payload.len())];
    match env.encode_into(&env.payload, &mut out) {
        Ok(()) => out,
        Err(_) => Vec::new(), // unreachable: a signed envelope always encodes
    }
}

/// Signs and encodes `envs` over at most `threads` threads (signatures are
/// independent: the batch is cut in equal runs), frames in order.
#[cfg(unix)]
fn sign_frames(
    key: &crypto::SecretKey,
    envs: Vec<Envelope<Vec<u8>>>,
    threads: usize,
) -> Vec<Vec<u8>> {
    let threads = threads
        .max(1)
        .min(envs.len().div_ceil(SIGN_MIN_PER_THREAD).max(1));
    if threads == 1 {
        return envs.into_iter().map(|e| sign_frame(key, e)).collect();
    }
    let chunk = envs.len().div_ceil(threads);
    let mut parts: Vec<Vec<Envelope<Vec<u8>>>> = Vec::with_capacity(threads);
    let mut rest = envs;
    while rest.len() > chunk {
        let tail = rest.split_off(chunk);
        parts.push(rest);
        rest = tail;
    }
    parts.push(rest);
    let sizes: Vec<usize> = parts.iter().map(Vec::len).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| {
                scope.spawn(move || {
                    part.into_iter()
                        .map(|e| sign_frame(key, e))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        // Signing cannot panic; if a worker ever did, its frames come back empty
        // (the caller counts them as `sign_failed`) rather than end the thread.
        let mut out = Vec::with_capacity(sizes.iter().sum());
        for (h, n) in handles.into_iter().zip(sizes) {
            match h.join() {
                Ok(frames) => out.extend(frames),
                Err(_) => out.extend(std::iter::repeat_n(Vec::new(), n)),
            }
        }
        out
    })
}

#[cfg(unix)]
#[pymethods]
impl PyEnvelopeSigner {
    #[new]
    #[pyo3(signature = (key, *, threads = None, max_jobs = 4))]
    fn new(key: &Bound<'_, PySigningKey>, threads: Option<usize>, max_jobs: i64) -> PyResult<Self> {
        let threads = thread_count(threads)?;
        let secret = key.get().inner.clone();
        let origin = secret.public_key();
        let worker = Worker::spawn(
            "swarmmesh-signer",
            max_jobs,
            move |envs: Vec<Envelope<Vec<u8>>>| sign_frames(&secret, envs, threads),
        )?;
        Ok(Self { worker, origin })
    }

    /// The descriptor that becomes readable when a job is done.
    fn fileno(&self) -> i32 {
        self.worker.fileno()
    }

    /// Jobs submitted and not collected by `results()` yet.
    #[getter]
    fn pending(&self) -> usize {
        self.worker.pending()
    }

    /// Copies `envelopes` (whose origin must be the key's) and queues them as
    /// one job; its id, or None when `max_jobs` are pending.
    #[allow(clippy::needless_pass_by_value)] // PyO3 extracts sequences as owned Vecs
    fn submit(
        &self,
        py: Python<'_>,
        envelopes: Vec<Bound<'_, PyEnvelope>>,
    ) -> PyResult<Option<u64>> {
        if let Some(e) = envelopes
            .iter()
            .find(|e| e.get().inner.origin != self.origin)
        {
            return Err(CoreError::invalid(
                "key",
                format!(
                    "the key of {} cannot sign for origin {}",
                    crypto::address_of(&self.origin),
                    crypto::address_of(&e.get().inner.origin)
                ),
            )
            .into());
        }
        self.worker.submit(|| Ok(owned(py, &envelopes)))
    }

    /// The `(id, frames)` of every job done since the last call, in order;
    /// `frames` is None for a job whose signing failed (as for the verifier).
    fn results<'py>(&self, py: Python<'py>) -> Vec<(u64, Option<Vec<Bound<'py, PyBytes>>>)> {
        self.worker
            .results()
            .into_iter()
            .map(|(id, frames)| {
                let frames = frames.map(|f| f.iter().map(|b| PyBytes::new(py, b)).collect());
                (id, frames)
            })
            .collect()
    }

    /// Stops taking jobs; the thread ends after the batch it is on. Idempotent.
    fn close(&self) {
        self.worker.close();
    }

    fn __repr__(&self) -> String {
        self.worker.describe("EnvelopeSigner")
    }
}

/// Cuts `frame` into chunk frames of at most `max_frame` bytes, or returns
/// `[frame]` if it fits. `chunk_id` (16 bytes) names the chunks of this frame.
#[pyfunction]
fn split_frame<'py>(
    py: Python<'py>,
    frame: &Bound<'py, PyAny>,
    max_frame: i64,
    chunk_id: &Bound<'py, PyAny>,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let max_frame = usize::try_from(non_negative("max_frame", max_frame)?).unwrap_or(usize::MAX);
    let chunk_id: [u8; CHUNK_ID_LEN] = fixed("chunk_id", chunk_id)?;
    if let Ok(b) = frame.cast::<PyBytes>() {
        if b.as_bytes().len() <= max_frame {
            return Ok(vec![b.clone().into_any()]);
        }
    }
    let data = id_bytes("frame", frame)?;
    let chunks = chunk::split(&data, max_frame, chunk_id)?;
    Ok(chunks
        .iter()
        .map(|c| PyBytes::new(py, c).into_any())
        .collect())
}

/// Reassembles chunk frames into whole frames, per (peer, chunk id), within
/// fixed bounds: `max_pending` messages in progress, `max_bytes` buffered over
/// all of them, `max_message` bytes per frame, and `timeout_ms` from a
/// message's first chunk to its last (`max_message=None`: `MAX_ENVELOPE_LEN`,
/// the longest envelope); one peer has at most `max_pending_per_peer` messages
/// in progress. Messages in progress are evicted to make room (counted in
/// `stats()["evicted"]`): a peer's own oldest when it is over its share, else
/// the oldest overall, and under byte pressure the oldest of the peer that
/// buffers the most. Sans-I/O: pass the clock's time as `now_ms`.
#[pyclass(frozen, module = "swarmmesh", name = "Reassembler")]
pub(crate) struct PyReassembler {
    inner: Mutex<Reassembler>,
}

#[pymethods]
impl PyReassembler {
    #[new]
    #[pyo3(signature = (*, max_pending = 1024, max_bytes = 67_108_864, timeout_ms = 30_000,
                        max_message = None, max_pending_per_peer = 64))]
    fn new(
        max_pending: i64,
        max_bytes: i64,
        timeout_ms: i64,
        max_message: Option<i64>,
        max_pending_per_peer: i64,
    ) -> PyResult<Self> {
        let size = |arg, v| non_negative(arg, v).map(|v| usize::try_from(v).unwrap_or(usize::MAX));
        let config = ReassemblerConfig {
            max_pending: size("max_pending", max_pending)?,
            max_pending_per_peer: size("max_pending_per_peer", max_pending_per_peer)?,
            max_bytes: size("max_bytes", max_bytes)?,
            max_message: match max_message {
                Some(m) => size("max_message", m)?,
                None => MAX_ENVELOPE_LEN,
            },
            timeout_ms: non_negative("timeout_ms", timeout_ms)?,
        };
        Ok(Self {
            inner: Mutex::new(Reassembler::new(config)?),
        })
    }

    /// Adds one chunk frame from `peer_id`; returns the whole frame once its
    /// last missing chunk arrives, else None (duplicates included).
    /// `DecodeError` on a malformed chunk, one over a limit or one that
    /// contradicts the chunks before it (that message is dropped).
    fn push<'py>(
        &self,
        py: Python<'py>,
        peer_id: &str,
        frame: &[u8],
        now_ms: i64,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let now_ms = non_negative("now_ms", now_ms)?;
        let out = self.inner.lock().push(peer_id, frame, now_ms)?;
        Ok(out.map(|f| PyBytes::new(py, &f)))
    }

    /// Drops the messages that did not complete within `timeout_ms` of their
    /// first chunk; returns how many.
    fn expire(&self, now_ms: i64) -> PyResult<usize> {
        let now_ms = non_negative("now_ms", now_ms)?;
        Ok(self.inner.lock().expire(now_ms))
    }

    /// Drops every message in progress from `peer_id`; returns how many.
    fn forget(&self, peer_id: &str) -> usize {
        self.inner.lock().forget(peer_id)
    }

    /// Counters and gauges: pending, bytes, completed, expired, evicted,
    /// rejected, duplicates.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.lock().stats();
        let d = PyDict::new(py);
        d.set_item("pending", s.pending)?;
        d.set_item("bytes", s.bytes)?;
        d.set_item("completed", s.completed)?;
        d.set_item("expired", s.expired)?;
        d.set_item("evicted", s.evicted)?;
        d.set_item("rejected", s.rejected)?;
        d.set_item("duplicates", s.duplicates)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let r = self.inner.lock();
        let c = r.config();
        let s = r.stats();
        format!(
            "Reassembler(max_pending={}, max_bytes={}, timeout_ms={}, max_message={}, max_pending_per_peer={}, pending={}, bytes={})",
            c.max_pending,
            c.max_bytes,
            c.timeout_ms,
            c.max_message,
            c.max_pending_per_peer,
            s.pending,
            s.bytes
        )
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyEnvelope>()?;
    m.add_class::<PyReassembler>()?;
    #[cfg(unix)]
    m.add_class::<PyEnvelopeVerifier>()?;
    #[cfg(unix)]
    m.add_class::<PyEnvelopeSigner>()?;
    m.add_function(wrap_pyfunction!(verify_envelopes, m)?)?;
    m.add_function(wrap_pyfunction!(split_frame, m)?)?;
    m.add("FRAME_ENVELOPE", FRAME_ENVELOPE)?;
    m.add("FRAME_CHUNK", FRAME_CHUNK)?;
    m.add("MAX_PAYLOAD", MAX_PAYLOAD)?;
    m.add("MAX_TOPIC", MAX_TOPIC)?;
    m.add("MAX_CONTROL_PAYLOAD", MAX_CONTROL_PAYLOAD)?;
    m.add("MAX_ENVELOPE_LEN", MAX_ENVELOPE_LEN)?;
    m.add("CHUNK_HEADER_LEN", CHUNK_HEADER_LEN)?;
    Ok(())
}
