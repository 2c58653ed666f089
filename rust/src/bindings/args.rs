//! Argument conversion shared by the bindings.
//!
//! Times and counts arrive as Python ints; a negative value gets an
//! `InvalidArgumentError` naming the argument instead of PyO3's `OverflowError`.
//! Message ids arrive as `bytes` (fast path), `str` (UTF-8), `bytearray` or
//! `memoryview`; anything else is an `ArgumentTypeError`.

use std::borrow::Cow;

use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView, PyString};

use super::errors::argument_type_error;
use crate::error::CoreError;

/// A non-negative integer argument (a time in ms, a count).
#[inline]
pub(crate) fn non_negative(arg: &'static str, value: i64) -> Result<u64, CoreError> {
    u64::try_from(value).map_err(|_| CoreError::invalid(arg, format!("must be >= 0, got {value}")))
}

/// The bytes of a message id.
#[inline]
pub(crate) fn id_bytes<'a>(arg: &str, obj: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Cow::Borrowed(b.as_bytes()));
    }
    id_bytes_slow(arg, obj).map(Cow::Owned)
}

#[cold]
fn id_bytes_slow(arg: &str, obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_str()?.as_bytes().to_vec());
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    if obj.cast::<PyMemoryView>().is_ok() {
        let b = obj.call_method0("tobytes")?;
        if let Ok(b) = b.cast::<PyBytes>() {
            return Ok(b.as_bytes().to_vec());
        }
    }
    let type_name = obj.get_type().name().map_or_else(|_| "?".to_owned(), |n| n.to_string());
    Err(argument_type_error(
        arg,
        format!("argument `{arg}` must be bytes, bytearray, memoryview or str, not {type_name}"),
    ))
}
