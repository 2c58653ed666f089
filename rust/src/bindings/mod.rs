//! The private PyO3 layer: `swarmmesh._core`.
//!
//! Each file exposes one concept. A binding converts arguments, locks, calls the
//! domain module and maps errors; domain rules never live here.

use pyo3::prelude::*;

mod args;
mod bloom;
mod breaker;
mod chain;
mod crypto;
mod dedup;
mod envelope;
pub(crate) mod errors;
mod ledger;
mod routing;

/// The extension module. Users import `swarmmesh`, never this.
#[pymodule]
#[pyo3(name = "_core")]
fn core_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    bloom::register(m)?;
    dedup::register(m)?;
    breaker::register(m)?;
    routing::register(m)?;
    crypto::register(m)?;
    chain::register(m)?;
    envelope::register(m)?;
    ledger::register(m)?;
    Ok(())
}
