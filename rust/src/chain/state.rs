//! The ledger state: accounts, the reward pool, profile tokens; its canonical
//! key/value form, its hash and the undo records that let a block be
//! disconnected exactly.
//!
//! The state is a set of canonical entries (see `docs/chain.md`):
//!
//! | key                          | value                                         |
//! |------------------------------|-----------------------------------------------|
//! | `a` ‖ public key             | balance u64 ‖ nonce u64                       |
//! | `b` ‖ token id ‖ public key  | token balance u64                             |
//! | `c` ‖ public key             | total donated to the pool u64                 |
//! | `p`                          | pool balance u64                              |
//! | `t` ‖ token id               | owner key ‖ supply u64 ‖ symbol (u8 length)   |
//!
//! Integers are little-endian. A value equal to the default (an account with
//! balance and nonce 0, a zero token balance, an empty pool) is *absent*, so
//! every state has exactly one set of entries and [`Ledger::state_hash`] is a
//! function of the state alone, however it was reached.
//!
//! Changes go through an [`Overlay`]: a scratch layer over a borrowed ledger
//! that records every write. [`Overlay::finish`] turns it into a [`Delta`] (what
//! to write) and an [`Undo`] (the old and new value of every touched key), so a
//! failed block never touches the ledger and a connected block can be undone.

use std::collections::{HashMap, HashSet};

use crate::chain::{Hash32, PublicKey, is_valid_symbol, token_id};
use crate::codec::{Reader, Writer};
use crate::crypto::sha256_parts;
use crate::error::{CoreError, CoreResult, DecodeReason};

/// Domain separator of [`Ledger::state_hash`].
const STATE_HASH_DOMAIN: &[u8] = b"swarmmesh/state/v1";
/// Version byte of an encoded [`Undo`].
const UNDO_VERSION: u8 = 1;
/// Longest canonical key (`b` ‖ token id ‖ key).
const MAX_KEY_LEN: usize = 65;
/// Longest canonical value (a token: 32 + 8 + 1 + 12).
const MAX_VALUE_LEN: usize = 53;

const TAG_ACCOUNT: u8 = b'a';
const TAG_TOKEN_BALANCE: u8 = b'b';
const TAG_CONTRIBUTOR: u8 = b'c';
const TAG_POOL: u8 = b'p';
const TAG_TOKEN: u8 = b't';

/// A coin account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Account {
    /// Spendable coins.
    pub balance: u64,
    /// The nonce the account's next transaction must carry.
    pub nonce: u64,
}

/// A profile token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Token {
    /// The creator, the only key that may distribute it.
    pub owner: PublicKey,
    /// Its symbol (1 to 12 of `[A-Z0-9]`).
    pub symbol: String,
    /// The fixed supply, created in the owner's balance.
    pub supply: u64,
}

/// One state key, typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// A coin account.
    Account(PublicKey),
    /// A token balance: (token id, holder).
    TokenBalance(Hash32, PublicKey),
    /// A contributor's running total of donations.
    Contributor(PublicKey),
    /// The reward pool balance.
    Pool,
    /// A token's owner, symbol and supply.
    Token(Hash32),
}

impl Key {
    /// The canonical key bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAX_KEY_LEN);
        match self {
            Self::Account(pk) => {
                out.push(TAG_ACCOUNT);
                out.extend_from_slice(pk);
            }
            Self::TokenBalance(id, pk) => {
                out.push(TAG_TOKEN_BALANCE);
                out.extend_from_slice(id);
                out.extend_from_slice(pk);
            }
            Self::Contributor(pk) => {
                out.push(TAG_CONTRIBUTOR);
                out.extend_from_slice(pk);
            }
            Self::Pool => out.push(TAG_POOL),
            Self::Token(id) => {
                out.push(TAG_TOKEN);
                out.extend_from_slice(id);
            }
        }
        out
    }

    /// Parses canonical key bytes.
    pub fn decode(data: &[u8]) -> CoreResult<Self> {
        let mut r = Reader::new("LedgerKey", data);
        let key = match r.u8("tag")? {
            TAG_ACCOUNT => Self::Account(r.array("public_key")?),
            TAG_TOKEN_BALANCE => Self::TokenBalance(r.array("token_id")?, r.array("public_key")?),
            TAG_CONTRIBUTOR => Self::Contributor(r.array("public_key")?),
            TAG_POOL => Self::Pool,
            TAG_TOKEN => Self::Token(r.array("token_id")?),
            other => {
                return Err(r.error(
                    DecodeReason::UnknownKind,
                    format!("unknown key tag 0x{other:02x}"),
                ));
            }
        };
        r.finish()?;
        Ok(key)
    }
}

fn u64_value(what: &'static str, data: &[u8]) -> CoreResult<u64> {
    let mut r = Reader::new(what, data);
    let v = r.u64("value")?;
    r.finish()?;
    Ok(v)
}

fn encode_account(a: Account) -> Vec<u8> {
    let mut w = Writer::with_capacity(16);
    w.u64(a.balance).u64(a.nonce);
    w.into_bytes()
}

fn encode_token(t: &Token) -> Vec<u8> {
    let mut w = Writer::with_capacity(MAX_VALUE_LEN);
    w.raw(&t.owner).u64(t.supply).bytes_u8(t.symbol.as_bytes());
    w.into_bytes()
}

fn non_canonical(what: &'static str, detail: impl Into<String>) -> CoreError {
    CoreError::decode(what, DecodeReason::NonCanonical, detail)
}

/// One key with its parsed value (`None` = absent).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Account(PublicKey, Option<Account>),
    TokenBalance(Hash32, PublicKey, Option<u64>),
    Contributor(PublicKey, Option<u64>),
    Pool(Option<u64>),
    Token(Hash32, Option<Token>),
}

impl Entry {
    /// Parses a key and an optional value; a present value equal to the
    /// default is non-canonical (it must be absent).
    fn parse(key: &[u8], value: Option<&[u8]>) -> CoreResult<Self> {
        let positive = |what: &'static str, v: &[u8]| -> CoreResult<u64> {
            let n = u64_value(what, v)?;
            if n == 0 {
                return Err(non_canonical(what, "a zero value must be absent"));
            }
            Ok(n)
        };
        Ok(match Key::decode(key)? {
            Key::Account(pk) => Self::Account(
                pk,
                value
                    .map(|v| {
                        let mut r = Reader::new("Account", v);
                        let a = Account {
                            balance: r.u64("balance")?,
                            nonce: r.u64("nonce")?,
                        };
                        r.finish()?;
                        if a == Account::default() {
                            return Err(non_canonical(
                                "Account",
                                "an empty account must be absent",
                            ));
                        }
                        Ok(a)
                    })
                    .transpose()?,
            ),
            Key::TokenBalance(id, pk) => Self::TokenBalance(
                id,
                pk,
                value.map(|v| positive("TokenBalance", v)).transpose()?,
            ),
            Key::Contributor(pk) => {
                Self::Contributor(pk, value.map(|v| positive("Contributor", v)).transpose()?)
            }
            Key::Pool => Self::Pool(value.map(|v| positive("Pool", v)).transpose()?),
            Key::Token(id) => Self::Token(
                id,
                value
                    .map(|v| {
                        let mut r = Reader::new("Token", v);
                        let owner: PublicKey = r.array("owner")?;
                        let supply = r.u64("supply")?;
                        let symbol = r.bytes_u8("symbol", 1, 12)?;
                        r.finish()?;
                        let symbol = std::str::from_utf8(symbol)
                            .ok()
                            .filter(|s| is_valid_symbol(s))
                            .ok_or_else(|| non_canonical("Token", "symbol is not [A-Z0-9]{1,12}"))?
                            .to_owned();
                        if supply == 0 {
                            return Err(non_canonical("Token", "a token has a non-zero supply"));
                        }
                        if token_id(&owner, &symbol) != id {
                            return Err(CoreError::decode(
                                "Token",
                                DecodeReason::Inconsistent,
                                "the key is not the token id of (owner, symbol)",
                            ));
                        }
                        Ok(Token {
                            owner,
                            symbol,
                            supply,
                        })
                    })
                    .transpose()?,
            ),
        })
    }
}

/// One change of an [`Undo`]: `(key, old value, new value)`, `None` = absent.
pub type Change = (Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>);

/// The old and new value of every key a block touched, in key order: enough
/// to disconnect the block exactly.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Undo {
    /// `(key, old value, new value)`, `None` meaning absent, sorted by key,
    /// one per key, never with `old == new`.
    pub changes: Vec<Change>,
}

impl Undo {
    /// The canonical encoding: version byte, `u32` count, then per change the
    /// key (`u8` length) and the old and new values (a `0`/`1` presence byte,
    /// then a `u8`-length value when present).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(5 + self.changes.len() * 64);
        w.u8(UNDO_VERSION).u32(self.changes.len() as u32);
        for (key, old, new) in &self.changes {
            w.bytes_u8(key);
            for v in [old, new] {
                match v {
                    None => {
                        w.u8(0);
                    }
                    Some(v) => {
                        w.u8(1).bytes_u8(v);
                    }
                }
            }
        }
        w.into_bytes()
    }

    /// Strict decoding of [`Undo::to_bytes`]: every key and value must parse,
    /// keys strictly increasing, no change with `old == new`.
    pub fn decode(data: &[u8]) -> CoreResult<Self> {
        let mut r = Reader::new("Undo", data);
        let version = r.u8("version")?;
        if version != UNDO_VERSION {
            return Err(r.error(
                DecodeReason::UnknownVersion,
                format!("undo version {version}, expected {UNDO_VERSION}"),
            ));
        }
        let count = r.u32("count")? as usize;
        // Each change takes at least 4 bytes: refuse a count the input cannot
        // hold before allocating for it.
        if count > r.remaining() / 4 {
            return Err(r.error(
                DecodeReason::LengthLimit,
                format!("{count} changes cannot fit in {} bytes", r.remaining()),
            ));
        }
        let mut changes = Vec::with_capacity(count);
        let mut prev: Option<Vec<u8>> = None;
        for _ in 0..count {
            let key = r.bytes_u8("key", 1, MAX_KEY_LEN)?.to_vec();
            let mut values = [None, None];
            for slot in &mut values {
                *slot = match r.u8("presence")? {
                    0 => None,
                    1 => Some(r.bytes_u8("value", 1, MAX_VALUE_LEN)?.to_vec()),
                    other => {
                        return Err(r.error(
                            DecodeReason::NonCanonical,
                            format!("presence byte {other}, expected 0 or 1"),
                        ));
                    }
                };
            }
            let [old, new] = values;
            Entry::parse(&key, old.as_deref())?;
            Entry::parse(&key, new.as_deref())?;
            if old == new {
                return Err(r.error(DecodeReason::NonCanonical, "a change that changes nothing"));
            }
            if prev.as_ref().is_some_and(|p| *p >= key) {
                return Err(r.error(
                    DecodeReason::NonCanonical,
                    "keys are not strictly increasing",
                ));
            }
            prev = Some(key.clone());
            changes.push((key, old, new));
        }
        r.finish()?;
        Ok(Self { changes })
    }

    /// The new value of every touched key (what a store writes on connect).
    pub fn new_values(&self) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        self.changes
            .iter()
            .map(|(k, _, n)| (k.clone(), n.clone()))
            .collect()
    }

    /// The old value of every touched key (what a store writes on disconnect).
    pub fn old_values(&self) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        self.changes
            .iter()
            .map(|(k, o, _)| (k.clone(), o.clone()))
            .collect()
    }
}

/// The ledger state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ledger {
    accounts: HashMap<PublicKey, Account>,
    pool: u64,
    contributors: HashMap<PublicKey, u64>,
    tokens: HashMap<Hash32, Token>,
    token_balances: HashMap<(Hash32, PublicKey), u64>,
}

impl Ledger {
    /// The state before the first block: each allocation credited to its key.
    /// Amounts must be non-zero and keys distinct.
    pub fn genesis(
        params: &crate::chain::params::ChainParams,
        allocations: &[(PublicKey, u64)],
    ) -> CoreResult<Self> {
        params.validate()?;
        let mut ledger = Self::default();
        for (pk, amount) in allocations {
            if *amount == 0 {
                return Err(CoreError::invalid(
                    "allocations",
                    "an allocation must be > 0",
                ));
            }
            let prev = ledger.accounts.insert(
                *pk,
                Account {
                    balance: *amount,
                    nonce: 0,
                },
            );
            if prev.is_some() {
                return Err(CoreError::invalid(
                    "allocations",
                    format!("key {} is allocated twice", crate::crypto::address_of(pk)),
                ));
            }
        }
        Ok(ledger)
    }

    /// The account of `pk` (all zero if it never received anything).
    #[inline]
    pub fn account(&self, pk: &PublicKey) -> Account {
        self.accounts.get(pk).copied().unwrap_or_default()
    }

    /// The balance of `pk`.
    pub fn balance(&self, pk: &PublicKey) -> u64 {
        self.account(pk).balance
    }

    /// The nonce the next transaction of `pk` must carry.
    pub fn nonce(&self, pk: &PublicKey) -> u64 {
        self.account(pk).nonce
    }

    /// The reward pool balance.
    pub fn pool_balance(&self) -> u64 {
        self.pool
    }

    /// What `pk` has donated to the pool in total.
    pub fn contributed(&self, pk: &PublicKey) -> u64 {
        self.contributors.get(pk).copied().unwrap_or(0)
    }

    /// Every contributor with its running total, sorted by key.
    pub fn contributors(&self) -> Vec<(PublicKey, u64)> {
        let mut v: Vec<_> = self.contributors.iter().map(|(k, n)| (*k, *n)).collect();
        v.sort_unstable();
        v
    }

    /// The token `id`, if it exists.
    pub fn token(&self, id: &Hash32) -> Option<&Token> {
        self.tokens.get(id)
    }

    /// What `pk` holds of token `id`.
    pub fn token_balance(&self, id: &Hash32, pk: &PublicKey) -> u64 {
        self.token_balances.get(&(*id, *pk)).copied().unwrap_or(0)
    }

    /// Sum of every coin balance and the pool (for conservation checks).
    pub fn total_coins(&self) -> u128 {
        self.accounts
            .values()
            .map(|a| u128::from(a.balance))
            .sum::<u128>()
            + u128::from(self.pool)
    }

    /// Every canonical `(key, value)` entry, sorted by key.
    pub fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::with_capacity(
            self.accounts.len()
                + self.contributors.len()
                + self.tokens.len()
                + self.token_balances.len()
                + 1,
        );
        for (pk, a) in &self.accounts {
            out.push((Key::Account(*pk).to_bytes(), encode_account(*a)));
        }
        for ((id, pk), n) in &self.token_balances {
            out.push((
                Key::TokenBalance(*id, *pk).to_bytes(),
                n.to_le_bytes().to_vec(),
            ));
        }
        for (pk, n) in &self.contributors {
            out.push((Key::Contributor(*pk).to_bytes(), n.to_le_bytes().to_vec()));
        }
        if self.pool != 0 {
            out.push((Key::Pool.to_bytes(), self.pool.to_le_bytes().to_vec()));
        }
        for (id, t) in &self.tokens {
            out.push((Key::Token(*id).to_bytes(), encode_token(t)));
        }
        out.sort_unstable();
        out
    }

    /// SHA-256 over the domain `swarmmesh/state/v1`, the entry count (u64) and
    /// every sorted entry as `u16 key length ‖ key ‖ u16 value length ‖ value`.
    pub fn state_hash(&self) -> Hash32 {
        let entries = self.entries();
        let count = (entries.len() as u64).to_le_bytes();
        let mut parts: Vec<&[u8]> = Vec::with_capacity(2 + entries.len() * 4);
        let lens: Vec<([u8; 2], [u8; 2])> = entries
            .iter()
            .map(|(k, v)| {
                (
                    (k.len() as u16).to_le_bytes(),
                    (v.len() as u16).to_le_bytes(),
                )
            })
            .collect();
        parts.push(STATE_HASH_DOMAIN);
        parts.push(&count);
        for ((k, v), (kl, vl)) in entries.iter().zip(&lens) {
            parts.push(kl);
            parts.push(k);
            parts.push(vl);
            parts.push(v);
        }
        sha256_parts(&parts)
    }

    /// The ledger whose entries are `entries` (any order). Each key and value
    /// must be canonical and each key appear once.
    pub fn from_entries<K: AsRef<[u8]>, V: AsRef<[u8]>>(entries: &[(K, V)]) -> CoreResult<Self> {
        let mut ledger = Self::default();
        let mut seen: HashSet<&[u8]> = HashSet::with_capacity(entries.len());
        for (k, v) in entries {
            if !seen.insert(k.as_ref()) {
                return Err(non_canonical("LedgerEntries", "a key appears twice"));
            }
            ledger.apply_entry(Entry::parse(k.as_ref(), Some(v.as_ref()))?);
        }
        Ok(ledger)
    }

    /// The current canonical value at `key`.
    fn raw_value(&self, key: &Key) -> Option<Vec<u8>> {
        match key {
            Key::Account(pk) => self.accounts.get(pk).map(|a| encode_account(*a)),
            Key::TokenBalance(id, pk) => self
                .token_balances
                .get(&(*id, *pk))
                .map(|n| n.to_le_bytes().to_vec()),
            Key::Contributor(pk) => self.contributors.get(pk).map(|n| n.to_le_bytes().to_vec()),
            Key::Pool => (self.pool != 0).then(|| self.pool.to_le_bytes().to_vec()),
            Key::Token(id) => self.tokens.get(id).map(encode_token),
        }
    }

    fn apply_entry(&mut self, e: Entry) {
        match e {
            Entry::Account(pk, Some(a)) => {
                self.accounts.insert(pk, a);
            }
            Entry::Account(pk, None) => {
                self.accounts.remove(&pk);
            }
            Entry::TokenBalance(id, pk, Some(n)) => {
                self.token_balances.insert((id, pk), n);
            }
            Entry::TokenBalance(id, pk, None) => {
                self.token_balances.remove(&(id, pk));
            }
            Entry::Contributor(pk, Some(n)) => {
                self.contributors.insert(pk, n);
            }
            Entry::Contributor(pk, None) => {
                self.contributors.remove(&pk);
            }
            Entry::Pool(n) => self.pool = n.unwrap_or(0),
            Entry::Token(id, Some(t)) => {
                self.tokens.insert(id, t);
            }
            Entry::Token(id, None) => {
                self.tokens.remove(&id);
            }
        }
    }

    /// Undoes a connected block: checks that every touched key still holds the
    /// undo's new value, then restores the old values. On error (an undo that
    /// does not belong to this state) the ledger is unchanged.
    pub fn disconnect(&mut self, undo: &Undo) -> CoreResult<()> {
        let mut restore = Vec::with_capacity(undo.changes.len());
        for (key, old, new) in &undo.changes {
            let typed = Key::decode(key)?;
            if self.raw_value(&typed).as_deref() != new.as_deref() {
                return Err(CoreError::invalid(
                    "undo",
                    format!("key {typed:?} does not hold the value the undo expects"),
                ));
            }
            restore.push(Entry::parse(key, old.as_deref())?);
        }
        for e in restore {
            self.apply_entry(e);
        }
        Ok(())
    }

    /// Writes a finished overlay's changes.
    pub fn apply(&mut self, delta: Delta) {
        for (pk, a) in delta.accounts {
            if a == Account::default() {
                self.accounts.remove(&pk);
            } else {
                self.accounts.insert(pk, a);
            }
        }
        if let Some(p) = delta.pool {
            self.pool = p;
        }
        for (pk, n) in delta.contributors {
            if n == 0 {
                self.contributors.remove(&pk);
            } else {
                self.contributors.insert(pk, n);
            }
        }
        for (id, t) in delta.tokens {
            self.tokens.insert(id, t);
        }
        for (k, n) in delta.token_balances {
            if n == 0 {
                self.token_balances.remove(&k);
            } else {
                self.token_balances.insert(k, n);
            }
        }
    }
}

/// The typed writes of a finished [`Overlay`], for [`Ledger::apply`].
#[derive(Debug, Default)]
pub struct Delta {
    accounts: Vec<(PublicKey, Account)>,
    pool: Option<u64>,
    contributors: Vec<(PublicKey, u64)>,
    tokens: Vec<(Hash32, Token)>,
    token_balances: Vec<((Hash32, PublicKey), u64)>,
}

/// A scratch layer of writes over a borrowed ledger.
#[derive(Debug)]
pub struct Overlay<'a> {
    base: &'a Ledger,
    accounts: HashMap<PublicKey, Account>,
    pool: Option<u64>,
    contributors: HashMap<PublicKey, u64>,
    tokens: HashMap<Hash32, Token>,
    token_balances: HashMap<(Hash32, PublicKey), u64>,
}

impl<'a> Overlay<'a> {
    /// An empty overlay over `base`.
    pub fn new(base: &'a Ledger) -> Self {
        Self {
            base,
            accounts: HashMap::new(),
            pool: None,
            contributors: HashMap::new(),
            tokens: HashMap::new(),
            token_balances: HashMap::new(),
        }
    }

    /// The account of `pk` as seen through the overlay.
    #[inline]
    pub fn account(&self, pk: &PublicKey) -> Account {
        self.accounts
            .get(pk)
            .copied()
            .unwrap_or_else(|| self.base.account(pk))
    }

    /// Sets the account of `pk`.
    #[inline]
    pub fn set_account(&mut self, pk: PublicKey, a: Account) {
        self.accounts.insert(pk, a);
    }

    /// The pool balance as seen through the overlay.
    #[inline]
    pub fn pool(&self) -> u64 {
        self.pool.unwrap_or(self.base.pool)
    }

    /// Sets the pool balance.
    #[inline]
    pub fn set_pool(&mut self, n: u64) {
        self.pool = Some(n);
    }

    /// The donation total of `pk`.
    #[inline]
    pub fn contributed(&self, pk: &PublicKey) -> u64 {
        self.contributors
            .get(pk)
            .copied()
            .unwrap_or_else(|| self.base.contributed(pk))
    }

    /// Sets the donation total of `pk`.
    #[inline]
    pub fn set_contributed(&mut self, pk: PublicKey, n: u64) {
        self.contributors.insert(pk, n);
    }

    /// Whether token `id` exists.
    #[inline]
    pub fn token(&self, id: &Hash32) -> Option<&Token> {
        self.tokens.get(id).or_else(|| self.base.token(id))
    }

    /// Creates token `id`.
    #[inline]
    pub fn set_token(&mut self, id: Hash32, t: Token) {
        self.tokens.insert(id, t);
    }

    /// The token balance of `pk` in `id`.
    #[inline]
    pub fn token_balance(&self, id: &Hash32, pk: &PublicKey) -> u64 {
        self.token_balances
            .get(&(*id, *pk))
            .copied()
            .unwrap_or_else(|| self.base.token_balance(id, pk))
    }

    /// Sets the token balance of `pk` in `id`.
    #[inline]
    pub fn set_token_balance(&mut self, id: Hash32, pk: PublicKey, n: u64) {
        self.token_balances.insert((id, pk), n);
    }

    /// The typed writes and the undo record (only keys whose value changed).
    pub fn finish(self) -> (Delta, Undo) {
        let base = self.base;
        let mut changes = Vec::new();
        let mut push = |key: Key, old: Option<Vec<u8>>, new: Option<Vec<u8>>| {
            if old != new {
                changes.push((key.to_bytes(), old, new));
            }
        };
        let mut delta = Delta::default();
        for (pk, a) in self.accounts {
            let new = (a != Account::default()).then(|| encode_account(a));
            push(Key::Account(pk), base.raw_value(&Key::Account(pk)), new);
            delta.accounts.push((pk, a));
        }
        if let Some(p) = self.pool {
            let new = (p != 0).then(|| p.to_le_bytes().to_vec());
            push(Key::Pool, base.raw_value(&Key::Pool), new);
            delta.pool = Some(p);
        }
        for (pk, n) in self.contributors {
            let new = (n != 0).then(|| n.to_le_bytes().to_vec());
            push(
                Key::Contributor(pk),
                base.raw_value(&Key::Contributor(pk)),
                new,
            );
            delta.contributors.push((pk, n));
        }
        for (id, t) in self.tokens {
            push(
                Key::Token(id),
                base.raw_value(&Key::Token(id)),
                Some(encode_token(&t)),
            );
            delta.tokens.push((id, t));
        }
        for ((id, pk), n) in self.token_balances {
            let key = Key::TokenBalance(id, pk);
            let new = (n != 0).then(|| n.to_le_bytes().to_vec());
            push(key, base.raw_value(&key), new);
            delta.token_balances.push(((id, pk), n));
        }
        changes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        (delta, Undo { changes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::params::ChainParams;
    use proptest::prelude::*;

    fn params() -> ChainParams {
        ChainParams::devnet("test").unwrap()
    }

    fn pk(i: u8) -> PublicKey {
        [i; 32]
    }

    #[test]
    fn genesis_credits_allocations_and_refuses_zero_and_duplicates() {
        let l = Ledger::genesis(&params(), &[(pk(1), 100), (pk(2), 5)]).unwrap();
        assert_eq!(l.balance(&pk(1)), 100);
        assert_eq!(l.nonce(&pk(1)), 0);
        assert_eq!(l.balance(&pk(3)), 0);
        assert_eq!(l.total_coins(), 105);
        assert!(Ledger::genesis(&params(), &[(pk(1), 0)]).is_err());
        assert!(Ledger::genesis(&params(), &[(pk(1), 1), (pk(1), 2)]).is_err());
    }

    fn sample() -> Ledger {
        let mut l = Ledger::genesis(&params(), &[(pk(1), 100), (pk(2), 5)]).unwrap();
        let id = token_id(&pk(1), "ABC");
        let mut ov = Overlay::new(&l);
        ov.set_pool(42);
        ov.set_contributed(pk(2), 42);
        ov.set_token(
            id,
            Token {
                owner: pk(1),
                symbol: "ABC".into(),
                supply: 1000,
            },
        );
        ov.set_token_balance(id, pk(1), 900);
        ov.set_token_balance(id, pk(3), 100);
        let (delta, _) = ov.finish();
        l.apply(delta);
        l
    }

    #[test]
    fn entries_round_trip_and_hash_is_order_free() {
        let l = sample();
        let e = l.entries();
        assert_eq!(e.len(), 2 + 2 + 1 + 1 + 1);
        assert!(e.windows(2).all(|w| w[0].0 < w[1].0));
        let mut shuffled = e.clone();
        shuffled.reverse();
        let back = Ledger::from_entries(&shuffled).unwrap();
        assert_eq!(back, l);
        assert_eq!(back.state_hash(), l.state_hash());
        assert_ne!(Ledger::default().state_hash(), l.state_hash());
    }

    #[test]
    fn from_entries_refuses_non_canonical_input() {
        let l = sample();
        let e = l.entries();
        let mut dup = e.clone();
        dup.push(e[0].clone());
        assert!(Ledger::from_entries(&dup).is_err());
        // A zero pool value must be absent.
        let zero_pool = vec![(vec![TAG_POOL], 0u64.to_le_bytes().to_vec())];
        assert!(Ledger::from_entries(&zero_pool).is_err());
        // An empty account must be absent.
        let empty = vec![(Key::Account(pk(9)).to_bytes(), vec![0; 16])];
        assert!(Ledger::from_entries(&empty).is_err());
        // Unknown tag, short key, trailing value bytes.
        assert!(Ledger::from_entries(&[(vec![b'z'], vec![1])]).is_err());
        assert!(Ledger::from_entries(&[(vec![TAG_ACCOUNT, 1], vec![0; 16])]).is_err());
        assert!(Ledger::from_entries(&[(vec![TAG_POOL], vec![1; 9])]).is_err());
        // A token under the wrong id.
        let t = Token {
            owner: pk(1),
            symbol: "ABC".into(),
            supply: 5,
        };
        let wrong = vec![(Key::Token([7; 32]).to_bytes(), encode_token(&t))];
        assert!(Ledger::from_entries(&wrong).is_err());
        let bad_symbol = Token {
            symbol: "abc".into(),
            ..t
        };
        let id = token_id(&pk(1), "abc");
        assert!(
            Ledger::from_entries(&[(Key::Token(id).to_bytes(), encode_token(&bad_symbol))])
                .is_err()
        );
    }

    #[test]
    fn overlay_leaves_base_alone_and_undo_restores() {
        let mut l = sample();
        let before = l.clone();
        let id = token_id(&pk(1), "ABC");
        let mut ov = Overlay::new(&l);
        ov.set_account(
            pk(1),
            Account {
                balance: 0,
                nonce: 0,
            },
        ); // deleted
        ov.set_account(
            pk(4),
            Account {
                balance: 7,
                nonce: 0,
            },
        ); // created
        ov.set_account(pk(2), l.account(&pk(2))); // unchanged: no undo entry
        ov.set_pool(0);
        ov.set_token_balance(id, pk(3), 0);
        assert_eq!(ov.account(&pk(4)).balance, 7);
        assert_eq!(ov.pool(), 0);
        let (delta, undo) = ov.finish();
        assert_eq!(l, before);
        assert_eq!(undo.changes.len(), 4);
        assert!(undo.changes.windows(2).all(|w| w[0].0 < w[1].0));
        let bytes = undo.to_bytes();
        assert_eq!(Undo::decode(&bytes).unwrap(), undo);
        l.apply(delta);
        assert_eq!(l.balance(&pk(4)), 7);
        assert_eq!(l.pool_balance(), 0);
        assert!(l.entries().iter().all(|(k, _)| k[0] != TAG_POOL));
        // An undo that does not match the state is refused and changes nothing.
        let after = l.clone();
        let mut wrong = undo.clone();
        wrong.changes[0].2 = Some(encode_account(Account {
            balance: 1,
            nonce: 9,
        }));
        assert!(l.disconnect(&wrong).is_err());
        assert_eq!(l, after);
        l.disconnect(&undo).unwrap();
        assert_eq!(l, before);
        assert_eq!(l.state_hash(), before.state_hash());
    }

    #[test]
    fn undo_decoder_is_strict() {
        let mut l = sample();
        let mut ov = Overlay::new(&l);
        ov.set_account(
            pk(5),
            Account {
                balance: 1,
                nonce: 1,
            },
        );
        ov.set_pool(1);
        let (delta, undo) = ov.finish();
        l.apply(delta);
        let good = undo.to_bytes();
        assert!(Undo::decode(&good).is_ok());
        // Truncated anywhere, trailing byte, unknown version.
        for n in 0..good.len() {
            assert!(Undo::decode(&good[..n]).is_err(), "prefix {n}");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(Undo::decode(&trailing).is_err());
        let mut version = good.clone();
        version[0] = 2;
        assert!(Undo::decode(&version).is_err());
        // Keys out of order.
        let swapped = Undo {
            changes: vec![undo.changes[1].clone(), undo.changes[0].clone()],
        };
        assert!(Undo::decode(&swapped.to_bytes()).is_err());
        // A no-op change.
        let noop = Undo {
            changes: vec![(vec![TAG_POOL], None, None)],
        };
        assert!(Undo::decode(&noop.to_bytes()).is_err());
        // A huge count with no data.
        let mut huge = vec![UNDO_VERSION];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(Undo::decode(&huge).is_err());
        assert_eq!(
            Undo::decode(&Undo::default().to_bytes()).unwrap(),
            Undo::default()
        );
    }

    proptest! {
        #[test]
        fn undo_decoder_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Undo::decode(&data);
        }

        #[test]
        fn random_overlays_round_trip(
            writes in proptest::collection::vec((0u8..6, 0u8..4, 0u64..3), 0..30)
        ) {
            let mut l = sample();
            let before = l.clone();
            let id = token_id(&pk(1), "ABC");
            let mut ov = Overlay::new(&l);
            for (what, who, n) in writes {
                match what {
                    0 => ov.set_account(pk(who), Account { balance: n, nonce: 0 }),
                    1 => ov.set_account(pk(who), Account { balance: 5, nonce: n }),
                    2 => ov.set_pool(n),
                    3 => ov.set_contributed(pk(who), n),
                    _ => ov.set_token_balance(id, pk(who), n),
                }
            }
            let (delta, undo) = ov.finish();
            let undo = Undo::decode(&undo.to_bytes()).unwrap();
            l.apply(delta);
            // The undo's new values are exactly the state's new entries.
            let now: HashMap<Vec<u8>, Vec<u8>> = l.entries().into_iter().collect();
            for (k, _, new) in &undo.changes {
                prop_assert_eq!(now.get(k), new.as_ref());
            }
            let reloaded = Ledger::from_entries(&l.entries()).unwrap();
            prop_assert_eq!(&reloaded, &l);
            l.disconnect(&undo).unwrap();
            prop_assert_eq!(l.state_hash(), before.state_hash());
            prop_assert_eq!(l, before);
        }
    }
}
