"""Chain value types: Transaction, BlockHeader, Block, merkle_root, mine, token_id.

Independent oracles: ids and header ids against ``hashlib.sha256`` over the
canonical bytes, the byte layouts against a pure-Python encoder written from
docs/chain.md, signatures against pynacl, the Merkle root against a pure-Python
hashlib reference.
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
import re
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

import swarmmesh
from swarmmesh import (
    ArgumentTypeError,
    Block,
    BlockHeader,
    DecodeError,
    InvalidArgumentError,
    Keypair,
    Transaction,
    merkle_root,
    mine,
    token_id,
)
from swarmmesh._core import HEADER_VERSION

CHAIN = "swarm-devnet"
#: The devnet target: the top 12 bits zero (about 4096 hashes per block).
DEVNET_TARGET = bytes([0x00, 0x0F]) + b"\xff" * 30
ALICE = Keypair.from_seed(bytes([1]) * 32)
BOB = Keypair.from_seed(bytes([2]) * 32)
TOKEN = token_id(ALICE.address, "ALC")


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def every_kind() -> list[Transaction]:
    return [
        Transaction.reward(ALICE, 50, height=3, chain_id=CHAIN),
        Transaction.transfer(ALICE, BOB.address, 10, nonce=0, fee=1, chain_id=CHAIN),
        Transaction.donate(ALICE, 7, nonce=1, fee=2, chain_id=CHAIN),
        Transaction.create_token(ALICE, "ALC", 1000, nonce=2, fee=1, chain_id=CHAIN),
        Transaction.transfer_token(ALICE, TOKEN, BOB.address, 5, nonce=3, fee=1, chain_id=CHAIN),
        Transaction.distribute_token(
            ALICE, TOKEN, [(BOB.address, 1), (ALICE.address, 2)], nonce=4, fee=1, chain_id=CHAIN
        ),
    ]


def header(**changes: int | str | bytes) -> BlockHeader:
    fields: dict[str, int | str | bytes] = {
        "version": HEADER_VERSION,
        "chain_id": CHAIN,
        "height": 1,
        "prev_id": bytes(32),
        "merkle_root": merkle_root([]),
        "timestamp_ms": 1_700_000_000_000,
        "target": DEVNET_TARGET,
        "nonce": 0,
        "producer": ALICE.public_key,
    }
    fields.update(changes)
    return BlockHeader(**fields)  # type: ignore[arg-type]


# ---------------------------------------------------------------- pure-Python references


def ref_tx_unsigned(tx: Transaction) -> bytes:
    """The layout of docs/chain.md, written independently of the Rust encoder."""
    tags = {
        "reward": 0,
        "transfer": 1,
        "donate": 2,
        "create_token": 3,
        "transfer_token": 4,
        "distribute_token": 5,
    }
    cid = tx.chain_id.encode()
    out = bytes([1, tags[tx.kind], len(cid)]) + cid + tx.sender_key + struct.pack("<QQ", tx.nonce, tx.fee)
    if tx.kind in ("reward", "donate"):
        assert tx.amount is not None
        out += struct.pack("<Q", tx.amount)
    elif tx.kind == "transfer":
        assert tx.to is not None
        assert tx.amount is not None
        out += swarmmesh.public_key_of(tx.to) + struct.pack("<Q", tx.amount)
    elif tx.kind == "create_token":
        assert tx.symbol is not None
        assert tx.supply is not None
        out += bytes([len(tx.symbol)]) + tx.symbol.encode() + struct.pack("<Q", tx.supply)
    elif tx.kind == "transfer_token":
        assert tx.token_id is not None
        assert tx.to is not None
        assert tx.amount is not None
        out += tx.token_id + swarmmesh.public_key_of(tx.to) + struct.pack("<Q", tx.amount)
    else:
        assert tx.token_id is not None
        assert tx.recipients is not None
        out += tx.token_id + struct.pack("<H", len(tx.recipients))
        for addr, amount in tx.recipients:
            out += swarmmesh.public_key_of(addr) + struct.pack("<Q", amount)
    return out


def ref_header(h: BlockHeader) -> bytes:
    cid = h.chain_id.encode()
    return (
        struct.pack("<IB", h.version, len(cid))
        + cid
        + struct.pack("<Q", h.height)
        + h.prev_id
        + h.merkle_root
        + struct.pack("<Q", h.timestamp_ms)
        + h.target
        + h.producer
        + struct.pack("<Q", h.nonce)
    )


def ref_merkle(ids: list[bytes]) -> bytes:
    if not ids:
        return sha(b"\x02")
    level = [sha(b"\x00" + i) for i in ids]
    while len(level) > 1:
        nxt = [sha(b"\x01" + level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


# ---------------------------------------------------------------- transactions


@pytest.mark.parametrize("tx", every_kind(), ids=lambda t: t.kind)
def test_tx_bytes_id_and_signature_against_oracles(tx: Transaction) -> None:
    raw = tx.to_bytes()
    assert raw == ref_tx_unsigned(tx) + tx.signature
    assert tx.id == sha(raw)
    assert tx.size == len(raw)
    assert tx.signing_bytes() == b"swarmmesh/tx/v1" + ref_tx_unsigned(tx)
    VerifyKey(tx.sender_key).verify(tx.signing_bytes(), tx.signature)
    assert tx.sender == ALICE.address
    assert tx.chain_id == CHAIN
    with pytest.raises(BadSignatureError):
        VerifyKey(BOB.public_key).verify(tx.signing_bytes(), tx.signature)


@pytest.mark.parametrize("tx", every_kind(), ids=lambda t: t.kind)
def test_tx_round_trip_equality_hash_pickle(tx: Transaction) -> None:
    back = Transaction.from_bytes(tx.to_bytes())
    assert back == tx
    assert hash(back) == hash(tx)
    assert back.to_bytes() == tx.to_bytes()
    assert pickle.loads(pickle.dumps(tx)) == tx
    assert Transaction.from_bytes(bytearray(tx.to_bytes())) == tx
    assert tx != tx.to_bytes()
    assert len({tx, back}) == 1
    assert tx.kind in repr(tx)


def test_tx_attributes_by_kind() -> None:
    reward, transfer, donate, create, ttoken, dist = every_kind()
    assert (reward.kind, reward.amount, reward.nonce, reward.fee) == ("reward", 50, 3, 0)
    assert (transfer.to, transfer.amount, transfer.token_id, transfer.symbol) == (BOB.address, 10, None, None)
    assert (donate.amount, donate.to, donate.recipients) == (7, None, None)
    assert (create.symbol, create.supply, create.amount) == ("ALC", 1000, None)
    assert (ttoken.token_id, ttoken.to, ttoken.amount) == (TOKEN, BOB.address, 5)
    assert dist.recipients == ((BOB.address, 1), (ALICE.address, 2))
    assert dist.amount is None
    assert dist.supply is None
    assert len({t.id for t in every_kind()}) == 6


def test_constructors_take_a_signing_key_and_raw_keys() -> None:
    a = Transaction.transfer(ALICE, BOB.address, 1, nonce=0, fee=1, chain_id=CHAIN)
    b = Transaction.transfer(ALICE._key, BOB.public_key, 1, nonce=0, fee=1, chain_id=CHAIN)
    assert a == b  # Ed25519 is deterministic: same fields, same signature, same id
    with pytest.raises(ArgumentTypeError):
        Transaction.donate(object(), 1, nonce=0, fee=1, chain_id=CHAIN)  # type: ignore[arg-type]


def test_constructors_sign_invalid_but_encodable_transactions() -> None:
    # Validity is the ledger's to judge: zero amounts, lower-case symbols, over-long
    # recipient lists all sign.
    assert Transaction.donate(ALICE, 0, nonce=0, fee=0, chain_id=CHAIN).amount == 0
    assert Transaction.create_token(ALICE, "low", 1, nonce=0, fee=1, chain_id=CHAIN).symbol == "low"
    many = [(BOB.address, 1)] * 257
    tx = Transaction.distribute_token(ALICE, TOKEN, many, nonce=0, fee=1, chain_id=CHAIN)
    assert tx.recipients is not None
    assert len(tx.recipients) == 257
    # ...but such a list is over the decode limit.
    with pytest.raises(DecodeError) as e:
        Transaction.from_bytes(tx.to_bytes())
    assert e.value.reason == "length_limit"


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: Transaction.donate(ALICE, -1, nonce=0, fee=1, chain_id=CHAIN), "amount"),
        (lambda: Transaction.donate(ALICE, 2**64, nonce=0, fee=1, chain_id=CHAIN), "amount"),
        (lambda: Transaction.donate(ALICE, 1, nonce=-1, fee=1, chain_id=CHAIN), "nonce"),
        (lambda: Transaction.donate(ALICE, 1, nonce=0, fee=1, chain_id="Swarm"), "chain_id"),
        (lambda: Transaction.donate(ALICE, 1, nonce=0, fee=1, chain_id=""), "chain_id"),
        (lambda: Transaction.donate(ALICE, 1, nonce=0, fee=1, chain_id="a" * 33), "chain_id"),
        (lambda: Transaction.transfer(ALICE, "sw1nope", 1, nonce=0, fee=1, chain_id=CHAIN), "to"),
        (lambda: Transaction.transfer(ALICE, b"short", 1, nonce=0, fee=1, chain_id=CHAIN), "to"),
        (lambda: Transaction.create_token(ALICE, "", 1, nonce=0, fee=1, chain_id=CHAIN), "symbol"),
        (lambda: Transaction.create_token(ALICE, "A" * 13, 1, nonce=0, fee=1, chain_id=CHAIN), "symbol"),
        (lambda: Transaction.create_token(ALICE, "A B", 1, nonce=0, fee=1, chain_id=CHAIN), "symbol"),
        (
            lambda: Transaction.transfer_token(ALICE, b"x", BOB.address, 1, nonce=0, fee=1, chain_id=CHAIN),
            "token_id",
        ),
    ],
)
def test_constructor_argument_errors(call: Callable[[], object], argument: str) -> None:
    with pytest.raises(InvalidArgumentError) as e:
        call()
    assert e.value.argument == argument


def test_distribute_token_rejects_non_pairs() -> None:
    with pytest.raises(ArgumentTypeError):
        Transaction.distribute_token(ALICE, TOKEN, [BOB.address], nonce=0, fee=1, chain_id=CHAIN)  # type: ignore[list-item]


def _mutate(data: bytes, at: int, value: int) -> bytes:
    b = bytearray(data)
    b[at] = value
    return bytes(b)


def _tx_cases() -> list[tuple[str, bytes, str]]:
    donate = Transaction.donate(ALICE, 7, nonce=1, fee=2, chain_id=CHAIN).to_bytes()
    create = Transaction.create_token(ALICE, "ALC", 1, nonce=0, fee=1, chain_id=CHAIN).to_bytes()
    sym = 3 + len(CHAIN) + 32 + 16  # offset of the symbol length byte
    pairs = [(BOB.address, 1)]
    dist = Transaction.distribute_token(ALICE, TOKEN, pairs, nonce=0, fee=1, chain_id=CHAIN).to_bytes()
    count = 3 + len(CHAIN) + 32 + 16 + 32  # offset of the recipient count
    return [
        ("empty", b"", "truncated"),
        ("truncated", donate[:-1], "truncated"),
        ("trailing", donate + b"\x00", "trailing_bytes"),
        ("version", _mutate(donate, 0, 2), "unknown_version"),
        ("kind", _mutate(donate, 1, 6), "unknown_kind"),
        ("chain id empty", _mutate(donate, 2, 0), "length_limit"),
        ("chain id too long", _mutate(donate, 2, 33), "length_limit"),
        ("chain id upper case", _mutate(donate, 3, ord("S")), "non_canonical"),
        ("chain id not ascii", _mutate(donate, 3, 0xC3), "non_canonical"),
        ("symbol too long", _mutate(create, sym, 13), "length_limit"),
        ("symbol space", _mutate(create, sym + 1, ord(" ")), "non_canonical"),
        ("symbol not ascii", _mutate(create, sym + 1, 0xFF), "non_canonical"),
        ("recipients over limit", dist[:count] + struct.pack("<H", 257) + dist[count + 2 :], "length_limit"),
        ("recipients missing", dist[:count] + struct.pack("<H", 2) + dist[count + 2 :], "truncated"),
        ("oversize", b"\x01" * (16 * 1024 + 1), "length_limit"),
    ]


@pytest.mark.parametrize(("data", "reason"), [c[1:] for c in _tx_cases()], ids=[c[0] for c in _tx_cases()])
def test_tx_decode_reasons(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as e:
        Transaction.from_bytes(data)
    assert e.value.reason == reason
    assert e.value.code == f"decode.{reason}"
    assert e.value.what == "Transaction"


@given(st.binary(max_size=300))
def test_tx_decoder_never_crashes(data: bytes) -> None:
    try:
        tx = Transaction.from_bytes(data)
    except DecodeError:
        return
    assert tx.to_bytes() == data


@given(
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**64 - 1),
    st.from_regex(r"[a-z0-9-]{1,32}", fullmatch=True),
)
def test_tx_round_trip_property(amount: int, nonce: int, fee: int, chain_id: str) -> None:
    tx = Transaction.transfer(ALICE, BOB.public_key, amount, nonce=nonce, fee=fee, chain_id=chain_id)
    back = Transaction.from_bytes(tx.to_bytes())
    assert (back.amount, back.nonce, back.fee, back.chain_id) == (amount, nonce, fee, chain_id)
    assert back.id == sha(tx.to_bytes())


def test_token_id_layout() -> None:
    expected = sha(b"swarmmesh/token/v1" + ALICE.public_key + b"\x03ALC")
    assert token_id(ALICE.address, "ALC") == expected
    assert token_id(ALICE.public_key, "ALC") == expected
    assert token_id(BOB.address, "ALC") != expected
    with pytest.raises(InvalidArgumentError):
        token_id(ALICE.address, "")


# ---------------------------------------------------------------- headers


def test_header_bytes_and_id_against_hashlib() -> None:
    h = header(nonce=12345, height=9)
    raw = h.to_bytes()
    assert raw == ref_header(h)
    assert h.id == sha(raw)
    assert BlockHeader.from_bytes(raw) == h
    assert pickle.loads(pickle.dumps(h)) == h
    assert (h.version, h.chain_id, h.height, h.nonce) == (HEADER_VERSION, CHAIN, 9, 12345)
    assert (h.prev_id, h.target, h.producer) == (bytes(32), DEVNET_TARGET, ALICE.public_key)
    assert h.producer_address == ALICE.address
    assert h.merkle_root == merkle_root([])
    assert h.timestamp_ms == 1_700_000_000_000
    assert raw[-8:] == struct.pack("<Q", 12345)  # the nonce is last


def test_header_work_and_target() -> None:
    assert header(target=b"\xff" * 32).work == 1
    assert header().work == 4096
    assert header(target=bytes(32)).work == 2**128 - 1
    t = 2**200 + 12345
    assert header(target=t.to_bytes(32, "big")).work == 2**256 // (t + 1)
    assert header(target=b"\xff" * 32).meets_target()
    assert not header(target=bytes(32)).meets_target()
    h = header(nonce=7)
    assert h.meets_target() == (int.from_bytes(h.id, "big") <= int.from_bytes(h.target, "big"))


def test_replace() -> None:
    h = header()
    r = h.replace(nonce=99, height=5, prev_id=b"\x01" * 32)
    assert (r.nonce, r.height, r.prev_id) == (99, 5, b"\x01" * 32)
    assert r.chain_id == h.chain_id
    assert r.producer == h.producer
    assert h.replace() == h
    assert r.id == sha(r.to_bytes()) != h.id
    with pytest.raises(InvalidArgumentError):
        h.replace(colour=1)
    with pytest.raises(InvalidArgumentError) as e:
        h.replace(prev_id=b"short")
    assert e.value.argument == "prev_id"
    with pytest.raises(InvalidArgumentError):
        h.replace(chain_id="Bad Chain")
    with pytest.raises(InvalidArgumentError):
        h.replace(version=-1)
    # Any version is representable (bad-version is a ledger reason).
    assert BlockHeader.from_bytes(h.replace(version=7).to_bytes()).version == 7


def test_header_decode_reasons() -> None:
    raw = header().to_bytes()
    cases = [
        (raw[:-1], "truncated"),
        (raw + b"\x00", "trailing_bytes"),
        (_mutate(raw, 4, 0), "length_limit"),
        (_mutate(raw, 4, 33), "length_limit"),
        (_mutate(raw, 5, ord("_")), "non_canonical"),
    ]
    for data, reason in cases:
        with pytest.raises(DecodeError) as e:
            BlockHeader.from_bytes(data)
        assert e.value.reason == reason
        assert e.value.what == "BlockHeader"


def test_mine_meets_the_devnet_target() -> None:
    h = header(merkle_root=merkle_root([t.id for t in every_kind()]))
    found = mine(h, max_iters=1 << 20)
    assert found is not None
    assert int.from_bytes(found.id, "big") <= int.from_bytes(DEVNET_TARGET, "big")
    assert found.id == sha(found.to_bytes())
    assert found.meets_target()
    assert found == h.replace(nonce=found.nonce)
    # The search is in order from the start nonce: resuming after it finds a later one.
    later = mine(h, start_nonce=found.nonce + 1, max_iters=1 << 20)
    assert later is not None
    assert later.nonce > found.nonce
    again = mine(found)
    assert again is not None
    assert again.nonce == found.nonce


def test_mine_is_bounded() -> None:
    impossible = header(target=bytes(32))
    assert mine(impossible, max_iters=1000) is None
    assert mine(impossible, max_iters=0) is None
    assert mine(impossible, start_nonce=2**64 - 3, max_iters=10) is None
    with pytest.raises(InvalidArgumentError):
        mine(impossible, max_iters=-1)


# ---------------------------------------------------------------- blocks and merkle


def make_block() -> Block:
    txs = every_kind()
    h = mine(header(merkle_root=merkle_root([t.id for t in txs])), max_iters=1 << 20)
    assert h is not None
    return Block(h, txs)


def test_block_layout_round_trip_and_hashes() -> None:
    b = make_block()
    raw = b.to_bytes()
    expected = b.header.to_bytes() + struct.pack("<I", len(b.txs))
    for t in b.txs:
        expected += struct.pack("<I", t.size) + t.to_bytes()
    assert raw == expected
    assert b.size == len(raw)
    assert b.content_hash == sha(raw)
    assert b.id == b.header.id == sha(b.header.to_bytes())
    assert b.tx_ids() == [sha(t.to_bytes()) for t in b.txs]
    back = Block.from_bytes(raw)
    assert back == b
    assert hash(back) == hash(b)
    assert back.txs == b.txs
    assert back.header == b.header
    assert [t.id for t in back.txs] == b.tx_ids()
    assert pickle.loads(pickle.dumps(b)) == b
    assert len(b) == 6
    assert isinstance(b.txs, tuple)


def test_mutated_block_keeps_the_id_but_not_the_content_hash() -> None:
    b = make_block()
    mutated = Block(b.header, [*b.txs, b.txs[-1]])
    assert mutated.id == b.id
    assert mutated.content_hash != b.content_hash
    assert mutated != b
    # ...and its Merkle root no longer matches the header.
    assert merkle_root(mutated.tx_ids()) != b.header.merkle_root


def test_block_decode_reasons() -> None:
    b = make_block()
    raw = b.to_bytes()
    at = len(b.header.to_bytes())
    cases = [
        (raw[:-1], "truncated", "Block"),
        (raw + b"\x00", "trailing_bytes", "Block"),
        (raw[:at] + struct.pack("<I", 10_001) + raw[at + 4 :], "length_limit", "Block"),
        (raw[:at] + struct.pack("<I", 10_000) + raw[at + 4 :], "truncated", "Block"),
        (raw[: at + 4] + struct.pack("<I", 16 * 1024 + 1) + raw[at + 8 :], "length_limit", "Block"),
        (_mutate(raw, at + 8, 9), "unknown_version", "Transaction"),
        (b"\x00" * (4 * 1024 * 1024 + 1), "length_limit", "Block"),
    ]
    for data, reason, what in cases:
        with pytest.raises(DecodeError) as e:
            Block.from_bytes(data)
        assert (e.value.reason, e.value.what) == (reason, what)


def test_block_rejects_non_transactions_and_non_headers() -> None:
    with pytest.raises(ArgumentTypeError):
        Block(header(), [b"not a tx"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        Block(b"not a header", [])  # type: ignore[arg-type]
    empty = Block(header(), [])
    assert len(empty) == 0
    assert empty.txs == ()
    assert Block.from_bytes(empty.to_bytes()) == empty


@given(st.binary(max_size=400))
def test_block_and_header_decoders_never_crash(data: bytes) -> None:
    for decode in (Block.from_bytes, BlockHeader.from_bytes):
        with contextlib.suppress(DecodeError):
            decode(data)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 32, 33, 1000, 10_000])
def test_merkle_matches_pure_python(n: int) -> None:
    ids = [sha(i.to_bytes(8, "little")) for i in range(n)]
    assert merkle_root(ids) == ref_merkle(ids)
    assert merkle_root(tuple(ids)) == ref_merkle(ids)


def test_merkle_duplicate_last_changes_root() -> None:
    # CVE-2012-2459: Bitcoin's duplicate-the-odd-node tree gives [a, b, c] and
    # [a, b, c, c] the same root; domain separation plus promotion does not.
    for n in range(1, 20):
        ids = [sha(bytes([i])) for i in range(n)]
        assert merkle_root([*ids, ids[-1]]) != merkle_root(ids)


@pytest.mark.parametrize("n", [4095, 4096, 10_001])
def test_merkle_threads_give_the_same_root(n: int) -> None:
    ids = [sha(i.to_bytes(8, "little")) for i in range(n)]
    root = ref_merkle(ids)
    for threads in (None, 1, 2, 3, 8):
        assert merkle_root(ids, threads=threads) == root


def test_merkle_argument_errors() -> None:
    with pytest.raises(InvalidArgumentError):
        merkle_root([], threads=0)
    with pytest.raises(InvalidArgumentError):
        merkle_root([b"short"])
    with pytest.raises(ArgumentTypeError):
        merkle_root([1])  # type: ignore[list-item]
    assert merkle_root([bytearray(32)]) == ref_merkle([bytes(32)])


def test_chain_doc_examples_run() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "chain.md"
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S)
    assert len(blocks) >= 3
    for code in blocks:
        exec(compile(code, str(doc), "exec"), {})
