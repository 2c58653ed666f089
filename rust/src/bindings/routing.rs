//! Python binding of [`crate::routing`]: `Router`, `RoutePlan`, `RouteStats`.
//!
//! Thin: convert the arguments, lock, call the core, map errors. Transport lists
//! are borrowed as `&str` from the caller's `str` objects and the returned tuples
//! reuse those objects, so `rank` allocates no strings. Breaker refusals come from
//! an attached `BreakerRegistry`, queried with the key `"{peer}|{transport}"`
//! built in one reused buffer per call.

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2};
use parking_lot::{Mutex, MutexGuard};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyList, PyMapping, PyString, PyTuple};

use super::args::non_negative;
use super::breaker::PyBreakerRegistry;
use super::errors::argument_type_error;
use crate::breaker::BreakerRegistry;
use crate::error::CoreError;
use crate::routing::{Plan, RouteStats, Router, RouterConfig};

/// `(order, scores)` as returned by `rank_many`.
type RankArrays<'py> = (Bound<'py, PyArray2<i32>>, Bound<'py, PyArray2<f64>>);

/// `rank_many` batches at least this large run with the GIL released.
const DETACH_AT: usize = 2_048;

/// The `str` items of a sequence argument (a bare `str` is refused: it would
/// iterate its characters).
fn str_items<'py>(arg: &str, obj: &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyString>>> {
    fn item<'py>(arg: &str, x: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyString>> {
        x.cast_into::<PyString>().map_err(|e| {
            let ty = e
                .into_inner()
                .get_type()
                .name()
                .map_or_else(|_| "?".to_owned(), |n| n.to_string());
            argument_type_error(arg, format!("`{arg}` must contain only str, found {ty}"))
        })
    }
    if let Ok(list) = obj.cast::<PyList>() {
        return list.iter().map(|x| item(arg, x)).collect();
    }
    if let Ok(tuple) = obj.cast::<PyTuple>() {
        return tuple.iter().map(|x| item(arg, x)).collect();
    }
    if obj.is_instance_of::<PyString>() {
        return Err(argument_type_error(
            arg,
            format!("`{arg}` must be a sequence of str, not a str"),
        ));
    }
    if let Ok(it) = obj.try_iter() {
        it.map(|x| item(arg, x?)).collect()
    } else {
        let ty = obj
            .get_type()
            .name()
            .map_or_else(|_| "?".to_owned(), |n| n.to_string());
        Err(argument_type_error(
            arg,
            format!("`{arg}` must be a sequence of str, not {ty}"),
        ))
    }
}

fn as_strs<'a>(items: &'a [Bound<'_, PyString>]) -> PyResult<Vec<&'a str>> {
    items.iter().map(|s| s.to_str()).collect()
}

/// Breaker refusals for one call: one registry lock and one key buffer.
struct Refusals<'a> {
    registry: Option<MutexGuard<'a, BreakerRegistry>>,
    key: String,
    now_ms: u64,
}

impl<'a> Refusals<'a> {
    fn new(breakers: Option<&'a Py<PyBreakerRegistry>>, now_ms: u64) -> Self {
        let registry = breakers.map(|b| b.get().inner.lock());
        Self {
            registry,
            key: String::new(),
            now_ms,
        }
    }

    #[inline]
    fn allows(&mut self, peer: &str, transport: &str) -> bool {
        match &self.registry {
            None => true,
            Some(reg) => {
                self.key.clear();
                self.key.push_str(peer);
                self.key.push('|');
                self.key.push_str(transport);
                reg.would_allow(&self.key, self.now_ms)
            }
        }
    }
}

/// Python `repr` of a `str` (single-quoted).
fn py_repr(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn py_list(items: impl Iterator<Item = String>) -> String {
    format!("[{}]", items.collect::<Vec<_>>().join(", "))
}

/// A send decision: `now` are sent at once, each of `hedges` after its
/// `delay_ms` unless a reply came first, `fallbacks` only if all those failed.
/// `explored` says exploration promoted a non-best transport to the front.
#[pyclass(frozen, eq, hash, module = "swarmmesh", name = "RoutePlan")]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PyRoutePlan {
    /// The destination peer.
    #[pyo3(get)]
    peer: String,
    /// Transports to send on immediately, best first.
    #[pyo3(get)]
    now: Vec<String>,
    /// `(transport, delay_ms)` hedges, in increasing delay.
    #[pyo3(get)]
    hedges: Vec<(String, u64)>,
    /// Transports to try in order once everything above failed.
    #[pyo3(get)]
    fallbacks: Vec<String>,
    /// Whether exploration reordered this plan.
    #[pyo3(get)]
    explored: bool,
}

#[pymethods]
impl PyRoutePlan {
    /// A plan value (normally made by `Router.plan`).
    #[new]
    #[pyo3(signature = (peer, now, hedges, fallbacks, explored = false))]
    fn new(
        peer: String,
        now: Vec<String>,
        hedges: Vec<(String, i64)>,
        fallbacks: Vec<String>,
        explored: bool,
    ) -> PyResult<Self> {
        let hedges = hedges
            .into_iter()
            .map(|(t, d)| Ok((t, non_negative("hedges", d)?)))
            .collect::<Result<_, CoreError>>()?;
        Ok(Self {
            peer,
            now,
            hedges,
            fallbacks,
            explored,
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "RoutePlan(peer={}, now={}, hedges={}, fallbacks={}, explored={})",
            py_repr(&self.peer),
            py_list(self.now.iter().map(|t| py_repr(t))),
            py_list(
                self.hedges
                    .iter()
                    .map(|(t, d)| format!("({}, {d})", py_repr(t)))
            ),
            py_list(self.fallbacks.iter().map(|t| py_repr(t))),
            if self.explored { "True" } else { "False" }
        )
    }
}

/// The estimates of one (peer, transport) pair, as `Router.snapshot` reports them.
#[pyclass(frozen, eq, module = "swarmmesh", name = "RouteStats")]
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PyRouteStats {
    /// The peer id.
    #[pyo3(get)]
    peer: String,
    /// The transport name.
    #[pyo3(get)]
    transport: String,
    /// Posterior mean of the delivery probability, in [0, 1].
    #[pyo3(get)]
    reliability: f64,
    /// Decayed success pseudo-count.
    #[pyo3(get)]
    successes: f64,
    /// Decayed failure pseudo-count.
    #[pyo3(get)]
    failures: f64,
    /// Smoothed RTT (RFC 6298), None before the first RTT sample.
    #[pyo3(get)]
    srtt_ms: Option<f64>,
    /// RTT mean deviation (RFC 6298), None before the first RTT sample.
    #[pyo3(get)]
    rttvar_ms: Option<f64>,
    /// Observations recorded (not decayed).
    #[pyo3(get)]
    observations: u64,
    /// Time of the latest observation, ms.
    #[pyo3(get)]
    last_observed_ms: u64,
}

impl From<RouteStats> for PyRouteStats {
    fn from(s: RouteStats) -> Self {
        Self {
            peer: s.peer,
            transport: s.transport,
            reliability: s.reliability,
            successes: s.successes,
            failures: s.failures,
            srtt_ms: s.srtt_ms,
            rttvar_ms: s.rttvar_ms,
            observations: s.observations,
            last_observed_ms: s.last_observed_ms,
        }
    }
}

#[pymethods]
impl PyRouteStats {
    fn __repr__(&self) -> String {
        let opt = |v: Option<f64>| v.map_or_else(|| "None".to_owned(), |x| format!("{x:?}"));
        format!(
            "RouteStats(peer={}, transport={}, reliability={:?}, successes={:?}, failures={:?}, \
             srtt_ms={}, rttvar_ms={}, observations={}, last_observed_ms={})",
            py_repr(&self.peer),
            py_repr(&self.transport),
            self.reliability,
            self.successes,
            self.failures,
            opt(self.srtt_ms),
            opt(self.rttvar_ms),
            self.observations,
            self.last_observed_ms
        )
    }
}

/// Per-(peer, transport) reliability and latency estimates that rank transports
/// and plan sends with hedging. Thread-safe; every method is one locked call.
#[pyclass(frozen, module = "swarmmesh", name = "Router")]
pub(crate) struct PyRouter {
    pub(crate) inner: Mutex<Router>,
    breakers: Option<Py<PyBreakerRegistry>>,
}

impl PyRouter {
    fn plan_value(peer: &str, names: &[&str], plan: &Plan) -> PyRoutePlan {
        PyRoutePlan {
            peer: peer.to_owned(),
            now: plan.now.iter().map(|&i| names[i].to_owned()).collect(),
            hedges: plan
                .hedges
                .iter()
                .map(|&(i, d)| (names[i].to_owned(), d))
                .collect(),
            fallbacks: plan
                .fallbacks
                .iter()
                .map(|&i| names[i].to_owned())
                .collect(),
            explored: plan.explored,
        }
    }
}

#[pymethods]
impl PyRouter {
    /// A router. `priors` (transport -> prior delivery probability in [0, 1]) is
    /// merged over the defaults {"integrated": 1.0, "gun": 0.8, "peerjs": 0.6};
    /// any other transport starts at `default_prior`. See docs/routing.md for
    /// every parameter.
    #[new]
    #[pyo3(signature = (
        priors = None,
        *,
        half_life_ms = 60_000,
        max_evidence = 50.0,
        default_prior = 0.5,
        prior_weight = 2.0,
        exploration = 0.05,
        seed = 0,
        breakers = None,
        max_peers = 100_000,
        latency_scale_ms = 1_000.0,
        default_rtt_ms = 100.0,
        hedge_k = 2.0,
        min_hedge_ms = 10,
        max_hedge_ms = 2_000,
        parallel_below = 0.5,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        priors: Option<&Bound<'_, PyAny>>,
        half_life_ms: i64,
        max_evidence: f64,
        default_prior: f64,
        prior_weight: f64,
        exploration: f64,
        seed: i128,
        breakers: Option<&Bound<'_, PyAny>>,
        max_peers: i64,
        latency_scale_ms: f64,
        default_rtt_ms: f64,
        hedge_k: f64,
        min_hedge_ms: i64,
        max_hedge_ms: i64,
        parallel_below: f64,
    ) -> PyResult<Self> {
        let mut prior_list = Vec::new();
        if let Some(p) = priors {
            let map = p.cast::<PyMapping>().map_err(|_| {
                argument_type_error(
                    "priors",
                    "`priors` must be a mapping of str to float".into(),
                )
            })?;
            for item in map.items()?.iter() {
                let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract()?;
                let name: String = k.extract().map_err(|_| {
                    argument_type_error("priors", "`priors` keys must be str".into())
                })?;
                let value: f64 = v.extract().map_err(|_| {
                    argument_type_error("priors", "`priors` values must be float".into())
                })?;
                prior_list.push((name, value));
            }
        }
        let seed = u64::try_from(seed).map_err(|_| {
            CoreError::invalid("seed", format!("must be in [0, 2**64), got {seed}"))
        })?;
        let breakers = match breakers {
            None => None,
            Some(b) => Some(
                b.cast::<PyBreakerRegistry>()
                    .map_err(|_| {
                        argument_type_error(
                            "breakers",
                            "`breakers` must be a BreakerRegistry or None".into(),
                        )
                    })?
                    .clone()
                    .unbind(),
            ),
        };
        let max_peers = non_negative("max_peers", max_peers)?;
        let cfg = RouterConfig {
            priors: prior_list,
            default_prior,
            prior_weight,
            half_life_ms: non_negative("half_life_ms", half_life_ms)?,
            max_evidence,
            exploration,
            seed,
            max_peers: usize::try_from(max_peers).unwrap_or(usize::MAX),
            latency_scale_ms,
            default_rtt_ms,
            hedge_k,
            min_hedge_ms: non_negative("min_hedge_ms", min_hedge_ms)?,
            max_hedge_ms: non_negative("max_hedge_ms", max_hedge_ms)?,
            parallel_below,
        };
        Ok(Self {
            inner: Mutex::new(Router::new(cfg)?),
            breakers,
        })
    }

    /// Record one delivery attempt on (peer, transport) at `now_ms`. `rtt_ms` is
    /// the round-trip time of a success (None when unknown; ignored on failure);
    /// negative or NaN raises `InvalidArgumentError`.
    #[pyo3(signature = (peer, transport, ok, rtt_ms, now_ms))]
    fn observe(
        &self,
        peer: &str,
        transport: &str,
        ok: bool,
        rtt_ms: Option<f64>,
        now_ms: i64,
    ) -> PyResult<()> {
        let now = non_negative("now_ms", now_ms)?;
        self.inner
            .lock()
            .observe(peer, transport, ok, rtt_ms, now)?;
        Ok(())
    }

    /// Return the score of (peer, transport) at `now_ms`, in [0, 1]; the prior-based score
    /// for a pair never observed. Breakers are not consulted.
    fn score(&self, peer: &str, transport: &str, now_ms: i64) -> PyResult<f64> {
        let now = non_negative("now_ms", now_ms)?;
        Ok(self.inner.lock().score(peer, transport, now))
    }

    /// The retransmission timeout of (peer, transport) in ms, RFC 6298:
    /// `srtt + 4 * rttvar` clamped to `[floor_ms, ceil_ms]`; `ceil_ms` before the
    /// pair's first RTT sample.
    fn rto_ms(&self, peer: &str, transport: &str, floor_ms: f64, ceil_ms: f64) -> PyResult<f64> {
        for (name, v) in [("floor_ms", floor_ms), ("ceil_ms", ceil_ms)] {
            if !v.is_finite() || v < 0.0 {
                return Err(
                    CoreError::invalid(name, format!("must be finite and >= 0, got {v}")).into(),
                );
            }
        }
        Ok(self.inner.lock().rto_ms(peer, transport, floor_ms, ceil_ms))
    }

    /// `[(transport, score), ...]`, best first; equal scores keep the order of
    /// `transports`. Transports whose breaker key `"{peer}|{transport}"` the
    /// attached registry refuses are left out. Pure: no exploration, no state change.
    fn rank<'py>(
        &self,
        py: Python<'py>,
        peer: &str,
        transports: &Bound<'py, PyAny>,
        now_ms: i64,
    ) -> PyResult<Bound<'py, PyList>> {
        let now = non_negative("now_ms", now_ms)?;
        let items = str_items("transports", transports)?;
        let names = as_strs(&items)?;
        let ranked = {
            let router = self.inner.lock();
            let mut refusals = Refusals::new(self.breakers.as_ref(), now);
            router.rank(peer, &names, now, |t| refusals.allows(peer, t))
        };
        let tuples = ranked.iter().map(|r| {
            PyTuple::new(
                py,
                [
                    items[r.index].clone().into_any(),
                    PyFloat::new(py, r.score).into_any(),
                ],
            )
        });
        let mut out = Vec::with_capacity(ranked.len());
        for t in tuples {
            out.push(t?);
        }
        PyList::new(py, out)
    }

    /// Decide a send to `peer`: which transports to use now, which to hedge with
    /// after what delay, which to keep as fallbacks (see docs/routing.md). Breaker
    /// refusals are left out. Exploration (seeded) may promote a non-best transport.
    #[pyo3(signature = (peer, transports, now_ms, max_parallel = 2))]
    fn plan(
        &self,
        peer: &str,
        transports: &Bound<'_, PyAny>,
        now_ms: i64,
        max_parallel: i64,
    ) -> PyResult<PyRoutePlan> {
        let now = non_negative("now_ms", now_ms)?;
        let max_parallel = non_negative("max_parallel", max_parallel)?;
        let items = str_items("transports", transports)?;
        let names = as_strs(&items)?;
        let plan = {
            let mut router = self.inner.lock();
            let mut refusals = Refusals::new(self.breakers.as_ref(), now);
            router.plan(
                peer,
                &names,
                now,
                usize::try_from(max_parallel).unwrap_or(usize::MAX),
                |t| refusals.allows(peer, t),
            )?
        };
        Ok(Self::plan_value(peer, &names, &plan))
    }

    /// Rank `transports` for every peer: `(order, scores)`, both shaped
    /// `(len(peers), len(transports))`. `order[i, j]` is the index into
    /// `transports` of peer i's j-th best transport, -1 (score NaN) for refused
    /// ones, which fill the end of the row. Row i equals `rank(peers[i], ...)`.
    fn rank_many<'py>(
        &self,
        py: Python<'py>,
        peers: &Bound<'py, PyAny>,
        transports: &Bound<'py, PyAny>,
        now_ms: i64,
    ) -> PyResult<RankArrays<'py>> {
        let now = non_negative("now_ms", now_ms)?;
        let peer_items = str_items("peers", peers)?;
        let peer_names = as_strs(&peer_items)?;
        let items = str_items("transports", transports)?;
        let names = as_strs(&items)?;
        let (n, m) = (peer_names.len(), names.len());
        let cells = n
            .checked_mul(m)
            .ok_or_else(|| CoreError::invalid("peers", "len(peers) * len(transports) overflows"))?;
        let work = || -> Result<(Vec<i32>, Vec<f64>), CoreError> {
            let mut order = vec![0i32; cells];
            let mut scores = vec![0.0f64; cells];
            let router = self.inner.lock();
            let mut refusals = Refusals::new(self.breakers.as_ref(), now);
            router.rank_many_into(
                &peer_names,
                &names,
                now,
                |p, t| refusals.allows(p, t),
                &mut order,
                &mut scores,
            )?;
            Ok((order, scores))
        };
        let (order, scores) = if n >= DETACH_AT {
            py.detach(work)?
        } else {
            work()?
        };
        let shape_err = |e: numpy::ndarray::ShapeError| CoreError::invalid("peers", e.to_string());
        let order = Array2::from_shape_vec((n, m), order).map_err(shape_err)?;
        let scores = Array2::from_shape_vec((n, m), scores).map_err(shape_err)?;
        Ok((order.into_pyarray(py), scores.into_pyarray(py)))
    }

    /// Return the estimates of `peer` (or of every peer, most recently observed first), one
    /// `RouteStats` per observed transport in first-observed order. Counts are
    /// decayed to `now_ms` when given, else as of each pair's latest observation.
    #[pyo3(signature = (peer = None, now_ms = None))]
    fn snapshot(&self, peer: Option<&str>, now_ms: Option<i64>) -> PyResult<Vec<PyRouteStats>> {
        let now = now_ms.map(|t| non_negative("now_ms", t)).transpose()?;
        let stats = self.inner.lock().snapshot(peer, now);
        Ok(stats.into_iter().map(PyRouteStats::from).collect())
    }

    /// Forget everything about `peer`; False if it was not tracked.
    fn forget(&self, peer: &str) -> bool {
        self.inner.lock().forget(peer)
    }

    /// Return the number of tracked peers.
    fn __len__(&self) -> usize {
        self.inner.lock().len()
    }

    /// Number of tracked (peer, transport) pairs.
    #[getter]
    fn pair_count(&self) -> usize {
        self.inner.lock().pair_count()
    }

    /// Peers evicted so far because `max_peers` was reached.
    #[getter]
    fn evictions(&self) -> u64 {
        self.inner.lock().evictions()
    }

    /// A copy of the merged priors: defaults overridden by the given ones.
    #[getter]
    fn priors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in self.inner.lock().priors() {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    /// The attached breaker registry, or None.
    #[getter]
    fn breakers(&self, py: Python<'_>) -> Option<Py<PyBreakerRegistry>> {
        self.breakers.as_ref().map(|b| b.clone_ref(py))
    }

    /// Peers tracked at most.
    #[getter]
    fn max_peers(&self) -> usize {
        self.inner.lock().config().max_peers
    }

    /// Half-life of the success/failure pseudo-counts, ms.
    #[getter]
    fn half_life_ms(&self) -> u64 {
        self.inner.lock().config().half_life_ms
    }

    fn __repr__(&self) -> String {
        let r = self.inner.lock();
        format!(
            "Router(peers={}, pairs={}, half_life_ms={}, exploration={:?}, breakers={})",
            r.len(),
            r.pair_count(),
            r.config().half_life_ms,
            r.config().exploration,
            if self.breakers.is_some() {
                "attached"
            } else {
                "None"
            }
        )
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRouter>()?;
    m.add_class::<PyRoutePlan>()?;
    m.add_class::<PyRouteStats>()?;
    Ok(())
}
