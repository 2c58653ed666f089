"""Crash safety: a child process writes blocks and is SIGKILLed at random moments.

After every kill the store must reopen, pass its integrity check, and
``reindex()`` must rebuild exactly the state that was committed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from swarmmesh import ChainConfig
from tests.chainkit import open_chain

ROOT = Path(__file__).resolve().parents[2]
KILLS = 40

CHILD = r"""
import sys
from tests.chainkit import ALICE, BOB, CAROL, MINER, MINER2, craft, open_chain, transfer, WallClock

clock = WallClock()
chain = open_chain(sys.argv[1], clock=clock)
clock.now = max(clock.now, chain.tip.timestamp_ms + 10_000)
print("ready", flush=True)
step = 0
while True:
    step += 1
    clock.now += 1000
    nonce = chain.nonce(ALICE.address) + sum(1 for t in chain.pending() if t.sender == ALICE.address)
    tx = transfer(ALICE, BOB if step % 2 else CAROL, 1 + step % 7, nonce, fee=1 + step % 3)
    if chain.submit_tx(tx).accepted:
        print("tx", tx.id.hex(), flush=True)
    if step % 4 == 0 and chain.height >= 1:
        # a competing branch of two empty blocks from the tip's parent: a reorganisation
        parent = chain.block_at(chain.height - 1).header
        b1 = craft(parent, producer=MINER2, timestamp_ms=clock.now)
        b2 = craft(b1.header, producer=MINER2, timestamp_ms=clock.now + 1)
        blocks = [b1, b2]
    else:
        blocks = [chain.produce_block(MINER, now_ms=clock.now)]
    for block in blocks:
        if chain.submit_block(block).accepted:
            print("block", block.id.hex(), block.header.height, flush=True)
"""


@pytest.mark.slow
def test_sigkill_at_random_moments_never_corrupts_the_store(tmp_path: Path) -> None:
    path = tmp_path / "chain.db"
    rng = random.Random(20261201)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "python"), str(ROOT)])}
    last_height = 0
    heights: list[int] = []
    accepted_txs: set[bytes] = set()
    accepted_blocks: dict[bytes, int] = {}  # id -> height
    depth = ChainConfig().max_fork_depth
    for _ in range(KILLS):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
            assert line == b"ready\n", child.stderr.read() if child.stderr else line
            time.sleep(rng.uniform(0.0, 0.12))  # let it write for a random while
            assert child.poll() is None, child.stderr.read() if child.stderr else "child exited"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        assert child.stdout is not None
        assert child.stderr is not None
        reported = child.stdout.read().decode().split("\n")
        child.stdout.close()
        child.stderr.close()
        assert child.returncode == -signal.SIGKILL
        for line in reported[:-1]:  # the last is empty, or a line the kill cut short
            kind, _, hex_id = line.partition(" ")
            if kind == "tx" and len(hex_id) == 64:
                accepted_txs.add(bytes.fromhex(hex_id))
            elif kind == "block":
                block_hex, _, height = hex_id.partition(" ")
                if len(block_hex) == 64 and height.isdigit():  # not a line cut by the kill
                    accepted_blocks[bytes.fromhex(block_hex)] = int(height)
        with open_chain(path) as chain:
            assert chain.integrity_check() == []
            committed = chain.state_hash()
            assert chain.reindex() == committed
            assert chain.height >= last_height  # a reorg only ever moves to more work
            last_height = chain.height
            heights.append(chain.height)
            # nothing the child was told is accepted is lost: blocks stay stored (but for side
            # branches the tip has left more than max_fork_depth behind, which are pruned; the
            # child's branches fork at most two below their blocks), and every accepted
            # transaction is in the best chain or still pending
            assert all(
                chain.block(b) is not None or h <= chain.height - depth + 1
                for b, h in accepted_blocks.items()
            )
            confirmed = {tx.id for block in chain.blocks() for tx in block.txs}
            pending = {tx.id for tx in chain.pending()}
            assert accepted_txs <= confirmed | pending
    assert last_height > KILLS // 2, heights  # the child did make progress between kills
    assert len(accepted_txs) > KILLS
