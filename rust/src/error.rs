//! The one error type of the core, with machine-readable reason codes.
//!
//! Every rejection carries a stable `code()` (for example `invalid_argument` or
//! `decode.truncated`) that tests and callers can match on; the binding layer maps
//! each variant onto one class of the Python `SwarmMeshError` tree.

use thiserror::Error;

/// Why a byte string could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeReason {
    /// The leading magic bytes are not the expected ones.
    BadMagic,
    /// The format version is not one this build understands.
    UnknownVersion,
    /// A kind (type tag) byte is not one this build understands.
    UnknownKind,
    /// The input ends before the structure does.
    Truncated,
    /// Bytes remain after the structure ended.
    TrailingBytes,
    /// A length or count exceeds the format's limit.
    LengthLimit,
    /// The bytes decode but are not the one canonical encoding of the value.
    NonCanonical,
    /// Fields contradict each other (for example a bit count that does not match
    /// the declared parameters).
    Inconsistent,
}

impl DecodeReason {
    /// The stable reason code, as exposed to Python.
    pub fn code(self) -> &'static str {
        match self {
            Self::BadMagic => "bad_magic",
            Self::UnknownVersion => "unknown_version",
            Self::UnknownKind => "unknown_kind",
            Self::Truncated => "truncated",
            Self::TrailingBytes => "trailing_bytes",
            Self::LengthLimit => "length_limit",
            Self::NonCanonical => "non_canonical",
            Self::Inconsistent => "inconsistent",
        }
    }
}

impl std::fmt::Display for DecodeReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// The error type of every fallible core operation.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CoreError {
    /// An argument is outside its domain; `arg` names it.
    #[error("invalid argument `{arg}`: {reason}")]
    InvalidArgument {
        /// The name of the offending argument, as the caller spelled it.
        arg: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Bytes could not be decoded into `what`.
    #[error("cannot decode {what}: {reason} ({detail})")]
    Decode {
        /// What was being decoded (for example `BloomFilter`).
        what: &'static str,
        /// The machine-readable reason.
        reason: DecodeReason,
        /// A human-readable detail (offsets, lengths, values).
        detail: String,
    },
}

impl CoreError {
    /// Shorthand for [`CoreError::InvalidArgument`].
    pub fn invalid(arg: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            arg,
            reason: reason.into(),
        }
    }

    /// Shorthand for [`CoreError::Decode`].
    pub fn decode(what: &'static str, reason: DecodeReason, detail: impl Into<String>) -> Self {
        Self::Decode {
            what,
            reason,
            detail: detail.into(),
        }
    }

    /// The stable reason code: `invalid_argument` or `decode.<reason>`.
    pub fn code(&self) -> String {
        match self {
            Self::InvalidArgument { .. } => "invalid_argument".to_owned(),
            Self::Decode { reason, .. } => format!("decode.{}", reason.code()),
        }
    }
}

/// Result alias of the core.
pub type CoreResult<T> = Result<T, CoreError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_names_the_argument() {
        let e = CoreError::invalid("capacity", "must be at least 1");
        assert_eq!(
            e.to_string(),
            "invalid argument `capacity`: must be at least 1"
        );
        assert_eq!(e.code(), "invalid_argument");
    }

    #[test]
    fn decode_codes_are_stable() {
        let e = CoreError::decode(
            "BloomFilter",
            DecodeReason::Truncated,
            "need 40 bytes, have 3",
        );
        assert_eq!(e.code(), "decode.truncated");
        assert!(e.to_string().contains("BloomFilter"));
        for (r, c) in [
            (DecodeReason::BadMagic, "bad_magic"),
            (DecodeReason::UnknownVersion, "unknown_version"),
            (DecodeReason::UnknownKind, "unknown_kind"),
            (DecodeReason::TrailingBytes, "trailing_bytes"),
            (DecodeReason::LengthLimit, "length_limit"),
            (DecodeReason::NonCanonical, "non_canonical"),
            (DecodeReason::Inconsistent, "inconsistent"),
        ] {
            assert_eq!(r.code(), c);
            assert_eq!(r.to_string(), c);
        }
    }
}
