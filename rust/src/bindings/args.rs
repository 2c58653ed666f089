//! Argument conversion shared by the bindings.
//!
//! Times and counts arrive as Python ints; a negative value gets an
//! `InvalidArgumentError` naming the argument instead of PyO3's `OverflowError`.
//! Message ids arrive as `bytes` (fast path), `str` (UTF-8), `bytearray` or
//! `memoryview`; anything else is an `ArgumentTypeError`.

use std::borrow::Cow;

use numpy::{PyArray2, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyMemoryView, PyString, PyTuple};

use super::errors::argument_type_error;
use crate::bloom::IdHash;
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
    let type_name = obj
        .get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string());
    Err(argument_type_error(
        arg,
        format!("argument `{arg}` must be bytes, bytearray, memoryview or str, not {type_name}"),
    ))
}

/// A seed: any int in `[0, 2^64)`.
pub(crate) fn seed(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    obj.extract::<u64>().map_err(|_| {
        CoreError::invalid("seed", format!("must be an int in [0, 2**64), got {obj}")).into()
    })
}

/// Batches at least this long are hashed and processed with the GIL released.
pub(crate) const DETACH_MIN: usize = 4096;

/// The seeded hash of one id (the bytes are borrowed, never copied, for
/// `bytes`).
#[inline]
fn hash_id(arg: &str, obj: &Bound<'_, PyAny>, seed: u64) -> PyResult<IdHash> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(IdHash::of(b.as_bytes(), seed));
    }
    Ok(IdHash::of(&id_bytes_slow(arg, obj)?, seed))
}

/// Hashes the rows of a C-contiguous `rows x width` byte matrix.
fn hash_flat_rows(flat: &[u8], rows: usize, width: usize, seed: u64) -> Vec<IdHash> {
    if width == 0 {
        return vec![IdHash::of(&[], seed); rows];
    }
    flat.chunks_exact(width)
        .map(|row| IdHash::of(row, seed))
        .collect()
}

/// Hashes a batch of ids: a 2-D `uint8` NumPy array (one id per row) or any
/// iterable of ids. Hashing needs no lock; large arrays are hashed with the GIL
/// released. A C-contiguous array is hashed straight from its buffer, a `list`
/// or `tuple` by index, anything else through the iterator protocol.
pub(crate) fn hash_ids(
    py: Python<'_>,
    arg: &str,
    ids: &Bound<'_, PyAny>,
    seed: u64,
) -> PyResult<Vec<IdHash>> {
    if let Ok(list) = ids.cast::<PyList>() {
        let mut out = Vec::with_capacity(list.len());
        for item in list.iter() {
            out.push(hash_id(arg, &item, seed)?);
        }
        return Ok(out);
    }
    if let Ok(tuple) = ids.cast::<PyTuple>() {
        let mut out = Vec::with_capacity(tuple.len());
        for item in tuple.iter() {
            out.push(hash_id(arg, &item, seed)?);
        }
        return Ok(out);
    }
    if let Ok(array) = ids.cast::<PyArray2<u8>>() {
        let view = array.try_readonly()?;
        let rows = view.as_array();
        let (nrows, width) = rows.dim();
        let detach = nrows >= DETACH_MIN;
        // Standard (C) order only: a Fortran-ordered buffer is contiguous too,
        // but its rows are not consecutive.
        if let Some(flat) = rows.as_slice() {
            let run = || hash_flat_rows(flat, nrows, width, seed);
            return Ok(if detach { py.detach(run) } else { run() });
        }
        // A strided view (a slice of a larger array, a transpose): row by row.
        let run = || -> Vec<IdHash> {
            rows.rows()
                .into_iter()
                .map(|row| match row.as_slice() {
                    Some(s) => IdHash::of(s, seed),
                    None => IdHash::of(&row.to_vec(), seed),
                })
                .collect()
        };
        return Ok(if detach { py.detach(run) } else { run() });
    }
    if let Ok(array) = ids.cast::<PyUntypedArray>() {
        return Err(argument_type_error(
            arg,
            format!(
                "a NumPy array of ids must be 2-D uint8 (one id per row), got {}-D {}",
                array.ndim(),
                array.dtype()
            ),
        ));
    }
    if ids.cast::<PyBytes>().is_ok() || ids.cast::<PyString>().is_ok() {
        return Err(argument_type_error(
            arg,
            format!("`{arg}` must be a sequence of ids, not a single id"),
        ));
    }
    let iter = ids.try_iter().map_err(|_| {
        argument_type_error(
            arg,
            format!("`{arg}` must be a 2-D uint8 array or an iterable of ids"),
        )
    })?;
    let mut out = Vec::with_capacity(ids.len().unwrap_or(0));
    for item in iter {
        out.push(hash_id(arg, &item?, seed)?);
    }
    Ok(out)
}

/// `__reduce__` for a type that round-trips through `T.from_bytes(data)`: pickling
/// goes through the same canonical, validated bytes as persistence.
pub(crate) fn reduce_via_from_bytes<'py, T: pyo3::PyTypeInfo>(
    py: Python<'py>,
    data: Bound<'py, PyBytes>,
) -> PyResult<Bound<'py, pyo3::types::PyTuple>> {
    let ctor = py.get_type::<T>().getattr("from_bytes")?;
    pyo3::types::PyTuple::new(
        py,
        [ctor, pyo3::types::PyTuple::new(py, [data])?.into_any()],
    )
}
