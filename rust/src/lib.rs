//! Rust core of swarmmesh.
//!
//! The domain modules are sans-I/O and deterministic: no sockets, no clocks, no
//! randomness of their own and no PyO3. Time comes in as `now_ms: u64`, seeds come
//! in explicitly. The PyO3 layer lives in `bindings` behind the `python` feature,
//! so `cargo test` and `cargo bench` run without a Python interpreter.
#![forbid(unsafe_code)]

pub mod blocked;
pub mod bloom;
pub mod breaker;
pub mod chain;
pub mod chunk;
pub mod codec;
pub mod crypto;
pub mod dedup;
pub mod envelope;
pub mod error;
pub mod rng;
pub mod routing;

#[cfg(feature = "python")]
mod bindings;

pub use error::{CoreError, DecodeReason};
