//! The SWARM chain: value types, their canonical encoding, Merkle roots and
//! proof of work.
//!
//! * [`tx`]: signed transactions of six kinds.
//! * [`block`]: block headers and blocks.
//! * [`merkle`]: the domain-separated Merkle root of transaction ids.
//! * [`pow`]: targets, work and the nonce search.
//!
//! Everything here is deterministic and sans-I/O. The byte layouts are in
//! `docs/chain.md`; every decoder is strict (see [`crate::codec`]).

pub mod block;
pub mod merkle;
pub mod params;
pub mod pow;
pub mod reason;
pub mod state;
pub mod tx;
pub mod validate;

pub use block::{Block, BlockHeader};
pub use merkle::{merkle_root, merkle_root_with_threads};
pub use pow::mine;
pub use tx::{Transaction, TxBody, token_id};

use crate::error::{CoreError, CoreResult};

/// A SHA-256 digest (transaction id, block id, Merkle root, token id, target).
pub type Hash32 = [u8; 32];
/// An Ed25519 public key (an account).
pub type PublicKey = [u8; 32];
/// An Ed25519 signature.
pub type Signature = [u8; 64];

/// Shortest chain id, in bytes.
pub const MIN_CHAIN_ID_LEN: usize = 1;
/// Longest chain id, in bytes (`[a-z0-9-]`).
pub const MAX_CHAIN_ID_LEN: usize = 32;
/// Shortest token symbol.
pub const MIN_SYMBOL_LEN: usize = 1;
/// Longest token symbol. Valid symbols are `[A-Z0-9]`; the decoder accepts any
/// printable ASCII so that a bad symbol is the validation reason
/// `bad-token-symbol`, not a decode error.
pub const MAX_SYMBOL_LEN: usize = 12;
/// Most recipients of one `distribute_token` transaction (decode limit).
pub const MAX_RECIPIENTS: usize = 256;
/// Largest encoded transaction, in bytes.
pub const MAX_TX_BYTES: usize = 16 * 1024;
/// Most transactions in one block (decode limit).
pub const MAX_BLOCK_TXS: usize = 10_000;
/// Largest encoded block, in bytes.
pub const MAX_BLOCK_BYTES: usize = 4 * 1024 * 1024;

/// The SHA-256 initial state (FIPS 180-4, 5.3.3), for hashing padded blocks
/// straight through the compression function on the hot paths (Merkle, mining).
pub(crate) const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// The digest of a finished SHA-256 state (big-endian words).
#[inline]
pub(crate) fn sha256_state_bytes(state: &[u32; 8]) -> Hash32 {
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// Whether `b` may appear in a chain id (`[a-z0-9-]`).
#[inline]
pub fn is_chain_id_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'
}

/// Whether `b` may appear in a *decodable* symbol (printable ASCII, no space).
#[inline]
pub fn is_symbol_byte(b: u8) -> bool {
    b.is_ascii_graphic()
}

/// Whether `symbol` is a *valid* token symbol: 1 to 12 of `[A-Z0-9]`.
pub fn is_valid_symbol(symbol: &str) -> bool {
    (MIN_SYMBOL_LEN..=MAX_SYMBOL_LEN).contains(&symbol.len())
        && symbol
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Checks a chain id: 1 to 32 bytes of `[a-z0-9-]`.
pub fn check_chain_id(arg: &'static str, chain_id: &str) -> CoreResult<()> {
    if !(MIN_CHAIN_ID_LEN..=MAX_CHAIN_ID_LEN).contains(&chain_id.len()) {
        return Err(CoreError::invalid(
            arg,
            format!(
                "a chain id has {MIN_CHAIN_ID_LEN} to {MAX_CHAIN_ID_LEN} bytes, got {}",
                chain_id.len()
            ),
        ));
    }
    if !chain_id.bytes().all(is_chain_id_byte) {
        return Err(CoreError::invalid(
            arg,
            format!("a chain id is made of [a-z0-9-], got {chain_id:?}"),
        ));
    }
    Ok(())
}

/// Checks that `symbol` is encodable: 1 to 12 printable ASCII characters (not
/// necessarily a *valid* symbol, see [`is_valid_symbol`]).
pub fn check_symbol_encodable(arg: &'static str, symbol: &str) -> CoreResult<()> {
    if !(MIN_SYMBOL_LEN..=MAX_SYMBOL_LEN).contains(&symbol.len())
        || !symbol.bytes().all(is_symbol_byte)
    {
        return Err(CoreError::invalid(
            arg,
            format!(
                "a symbol has {MIN_SYMBOL_LEN} to {MAX_SYMBOL_LEN} printable ASCII characters, got {symbol:?}"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_and_symbols() {
        assert!(check_chain_id("c", "swarm-devnet").is_ok());
        assert!(check_chain_id("c", "").is_err());
        assert!(check_chain_id("c", &"a".repeat(33)).is_err());
        assert!(check_chain_id("c", &"a".repeat(32)).is_ok());
        assert!(check_chain_id("c", "Swarm").is_err());
        assert!(check_chain_id("c", "swarm net").is_err());
        assert!(is_valid_symbol("ABC123"));
        assert!(!is_valid_symbol("abc"));
        assert!(!is_valid_symbol(""));
        assert!(!is_valid_symbol("ABCDEFGHIJKLM"));
        assert!(check_symbol_encodable("s", "abc!").is_ok());
        assert!(check_symbol_encodable("s", "a b").is_err());
        assert!(check_symbol_encodable("s", "é").is_err());
        assert!(check_symbol_encodable("s", "").is_err());
    }
}
