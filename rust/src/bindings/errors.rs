//! The Python exception tree, rooted at `SwarmMeshError`, and the one mapping
//! from [`CoreError`] onto it.
//!
//! Classes that also derive from a builtin (`ValueError`, `TypeError`) are built
//! at import time with `type(name, bases, ns)` because `create_exception!` takes a
//! single base. Every raised instance carries a `code` attribute (the core's
//! reason code) plus `argument` (for argument errors) or `reason` (for decode
//! errors), so callers and tests match on data, not on message text.

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

use crate::error::CoreError;

create_exception!(
    swarmmesh,
    SwarmMeshError,
    PyException,
    "Root of every error swarmmesh raises. `code` is a stable reason code."
);

static INVALID_ARGUMENT: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static ARGUMENT_TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static DECODE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn make_type(
    py: Python<'_>,
    name: &str,
    doc: &str,
    builtin: Bound<'_, PyType>,
) -> PyResult<Py<PyType>> {
    let bases = PyTuple::new(py, [py.get_type::<SwarmMeshError>(), builtin])?;
    let ns = PyDict::new(py);
    ns.set_item("__module__", "swarmmesh")?;
    ns.set_item("__doc__", doc)?;
    let ty = py.get_type::<PyType>().call1((name, bases, ns))?;
    Ok(ty.cast_into::<PyType>()?.unbind())
}

fn invalid_argument_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    INVALID_ARGUMENT
        .get_or_try_init(py, || {
            make_type(
                py,
                "InvalidArgumentError",
                "An argument is outside its domain. `argument` names it.",
                py.get_type::<PyValueError>(),
            )
        })
        .map(|t| t.bind(py))
}

fn argument_type_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    ARGUMENT_TYPE
        .get_or_try_init(py, || {
            make_type(
                py,
                "ArgumentTypeError",
                "An argument has the wrong type. `argument` names it.",
                py.get_type::<PyTypeError>(),
            )
        })
        .map(|t| t.bind(py))
}

fn decode_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    DECODE
        .get_or_try_init(py, || {
            make_type(
                py,
                "DecodeError",
                "Bytes could not be decoded. `reason` says why (e.g. 'truncated').",
                py.get_type::<PyValueError>(),
            )
        })
        .map(|t| t.bind(py))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("SwarmMeshError", py.get_type::<SwarmMeshError>())?;
    m.add("InvalidArgumentError", invalid_argument_type(py)?)?;
    m.add("ArgumentTypeError", argument_type_type(py)?)?;
    m.add("DecodeError", decode_type(py)?)?;
    Ok(())
}

fn build(ty: &Bound<'_, PyType>, message: String, attrs: &[(&str, &str)]) -> PyErr {
    let make = || -> PyResult<PyErr> {
        let instance = ty.call1((message,))?;
        for (k, v) in attrs {
            instance.setattr(*k, *v)?;
        }
        Ok(PyErr::from_value(instance))
    };
    make().unwrap_or_else(|e| e)
}

/// An `ArgumentTypeError` naming `arg`.
pub(crate) fn argument_type_error(arg: &str, message: String) -> PyErr {
    Python::attach(|py| match argument_type_type(py) {
        Ok(ty) => build(ty, message, &[("code", "argument_type"), ("argument", arg)]),
        Err(e) => e,
    })
}

impl From<CoreError> for PyErr {
    fn from(err: CoreError) -> PyErr {
        Python::attach(|py| {
            let code = err.code();
            let message = err.to_string();
            let ty = match &err {
                CoreError::InvalidArgument { .. } => invalid_argument_type(py),
                CoreError::Decode { .. } => decode_type(py),
            };
            let ty = match ty {
                Ok(ty) => ty,
                Err(e) => return e,
            };
            match &err {
                CoreError::InvalidArgument { arg, .. } => {
                    build(ty, message, &[("code", &code), ("argument", arg)])
                }
                CoreError::Decode { reason, what, .. } => build(
                    ty,
                    message,
                    &[("code", &code), ("reason", reason.code()), ("what", what)],
                ),
            }
        })
    }
}
