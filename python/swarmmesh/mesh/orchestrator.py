"""The hybrid orchestrator: :class:`Mesh`, one node's view of every transport at once.

A ``Mesh`` owns a set of started transports and runs on top of them:

* **send** (unicast, acknowledged end to end): the Rust :class:`~swarmmesh.Router` plans
  each send (best transport now, a hedge after a delay from its latency estimate, or both
  at once when the estimate is poor, fallbacks after that); the first ack wins and cancels
  the hedges not yet sent; every attempt's outcome feeds ``Router.observe`` and the
  breakers of :class:`~swarmmesh.mesh.resilience.Resilience`.
* **broadcast**: a signed envelope flooded over every healthy transport with a TTL; every
  node re-forwards a message once; one :class:`~swarmmesh.DedupFilter` for all transports
  makes the application see it once; incoming signatures are checked in batches in Rust.
* **backpressure**: bounded send slots per peer and for the mesh (a send waits, with a
  timeout), bounded gossip queues per link and per transport (oldest dropped, counted),
  bounded subscriptions.
* **discipline**: malformed frames and bad signatures are dropped with a counted reason and
  reported to ``Resilience.misbehaved`` (never to the breakers); a banned peer is
  disconnected everywhere and ignored.
* **flags**: ``hybrid_orchestrator`` off makes it the legacy single-transport manager (one
  transport, sequential attempts, no hedging); ``connection_resilience`` off puts the
  breakers in metrics-only mode. Both can change at runtime.

Every timer and timeout runs on the injected clock.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections import Counter
from collections.abc import Callable, Coroutine, KeysView, Sequence
from types import TracebackType
from typing import Any, Final

from swarmmesh._core import DedupFilter, Router, SigningKey, public_key_of
from swarmmesh.clock import Clock, SystemClock, TimerHandle
from swarmmesh.errors import ConfigError, DecodeError, DeliveryError, InvalidArgumentError
from swarmmesh.flags import FeatureFlags
from swarmmesh.identity import Keypair
from swarmmesh.mesh._deadline import within
from swarmmesh.mesh.config import MeshConfig
from swarmmesh.mesh.envelope import (
    FRAME_CHUNK,
    FRAME_ENVELOPE,
    Envelope,
    Reassembler,
    split_frame,
)
from swarmmesh.mesh.flood import Flood
from swarmmesh.mesh.gossip import Message, Outboxes, Receipt, Subscription
from swarmmesh.mesh.health import HealthMonitor
from swarmmesh.mesh.resilience import Resilience
from swarmmesh.mesh.sending import AttemptError, SendOp
from swarmmesh.mesh.signing import Publisher
from swarmmesh.transports.base import Transport, TransportError, UnsupportedError

__all__ = ["Mesh"]

log = logging.getLogger(__name__)

#: The envelope layout the duplicate fast path reads (see ``rust/src/envelope.rs``): byte 0 is
#: the frame type, byte 2 the kind (4 = broadcast), bytes 6..22 the message id.
_KIND_BROADCAST: Final = 4
_MIN_ENVELOPE: Final = 62
_CHUNK: Final = bytes((FRAME_CHUNK,))

#: Link-down reasons that are not failures (an orderly close).
_ORDERLY: Final = frozenset({"stopped", "peer:stopped", "closed", "peer:closed", "banned", "peer:banned"})


class Mesh:
    """One node of the hybrid mesh over several transports (see the module docstring).

    ``transports`` are not started yet; the mesh starts and stops them. ``flags`` may be
    shared and changed at runtime; ``clock`` defaults to the loop's. Use as an async
    context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        keypair: Keypair,
        transports: Sequence[Transport],
        *,
        flags: FeatureFlags | None = None,
        config: MeshConfig | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._keypair = keypair
        # The core key itself signs broadcasts: no Python call between the envelope and Rust.
        self._signer = SigningKey(keypair.seed())
        self._config = config if config is not None else MeshConfig()
        self._flags = flags if flags is not None else FeatureFlags()
        self._clock: Clock = clock if clock is not None else SystemClock()
        cfg = self._config
        if not transports:
            raise ConfigError("transports", "a mesh needs at least one transport")
        self._transports: dict[str, Transport] = {}
        for t in transports:
            if t.name in self._transports:
                raise ConfigError("transports", f"two transports are named {t.name!r}")
            if t.peer_id != keypair.address:
                raise ConfigError("transports", f"transport {t.name!r} belongs to another key")
            self._transports[t.name] = t
        self._order = list(self._transports)
        if cfg.legacy_transport is not None:
            if cfg.legacy_transport not in self._transports:
                raise ConfigError("legacy_transport", f"no transport named {cfg.legacy_transport!r}")
            self._legacy = cfg.legacy_transport
        else:
            self._legacy = "peerjs" if "peerjs" in self._transports else self._order[0]
        seed = cfg.seed if cfg.seed is not None else secrets.randbits(64)
        salt = seed.to_bytes(8, "little") + keypair.public_key
        # Keyed once: each id hashes a copy (the same digest as keying it every time).
        self._id_hash = hashlib.blake2b(digest_size=16, key=salt[:64])
        self._id_counter = 0
        self._resilience = Resilience(
            cfg.resilience,
            self._clock,
            enabled=self._flags.connection_resilience,
            seed=seed,
            probe=self._probe,
            on_ban=self._on_ban,
        )
        self._router = Router(
            dict(cfg.priors),
            half_life_ms=max(1, round(cfg.router_half_life_s * 1000)),
            exploration=cfg.router_exploration,
            seed=seed,
            breakers=self._resilience.peer_breakers,
            max_peers=cfg.max_peers,
        )
        self._health = HealthMonitor(cfg.health, self._clock, self._ping, self._on_health)
        self._dedup = DedupFilter(
            cfg.dedup_capacity, cfg.dedup_fp_rate, max(1, round(cfg.dedup_ttl_s * 1000)), seed=seed
        )
        self._reassembler = Reassembler(
            max_pending=cfg.reassembly_max_pending,
            max_bytes=cfg.reassembly_max_bytes,
            timeout_ms=max(1, round(cfg.reassembly_timeout_s * 1000)),
        )
        self._outboxes = Outboxes(
            per_peer=cfg.gossip_queue_per_peer, per_transport=cfg.gossip_queue_per_transport
        )
        self._pending: dict[bytes, SendOp] = {}
        self._pings: dict[bytes, tuple[str, asyncio.Future[None]]] = {}  # id -> (peer, answered)
        self._subs: dict[str, list[Subscription]] = {}
        self._links: dict[str, set[str]] = {}  # peer -> transports linked
        self._banned: set[str] = set()  # peers banned (confirmed with Resilience.is_banned)
        self._max_frame: dict[str, int] = {}
        self._wanted: dict[str, None] = {}  # peers we connected to (redialled when a link is missing)
        self._flood = Flood(self, self._dedup, self._outboxes, cfg)
        self._publisher = Publisher(self._signer, cfg, self._flood.send, self.count)
        self._send_slots = asyncio.Semaphore(cfg.max_pending_sends)
        self._peer_slots: dict[str, asyncio.Semaphore] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._maintenance: asyncio.Task[None] | None = None
        self._unsubscribe_flags: Callable[[], None] | None = None
        self._running = False
        self._count: Counter[str] = Counter()
        self._dropped: Counter[str] = Counter()
        self._first_attempts: Counter[str] = Counter()
        self._delivered_by: Counter[str] = Counter()

    # ------------------------------------------------------------------ properties

    @property
    def peer_id(self) -> str:
        """The peer id of this node (its keypair's address)."""
        return self._keypair.address

    @property
    def keypair(self) -> Keypair:
        """The identity of this node."""
        return self._keypair

    @property
    def config(self) -> MeshConfig:
        """The configuration."""
        return self._config

    @property
    def flags(self) -> FeatureFlags:
        """The feature flags (change them at runtime with ``flags.set``)."""
        return self._flags

    @property
    def resilience(self) -> Resilience:
        """The breakers and the peer discipline."""
        return self._resilience

    @property
    def router(self) -> Router:
        """The routing estimator."""
        return self._router

    @property
    def health(self) -> HealthMonitor:
        """The ping-based health monitor."""
        return self._health

    @property
    def clock(self) -> Clock:
        """The injected clock."""
        return self._clock

    @property
    def transports(self) -> dict[str, Transport]:
        """The transports by name (a copy)."""
        return dict(self._transports)

    @property
    def hybrid(self) -> bool:
        """Whether the hybrid orchestrator is on (else: the legacy single-transport mode)."""
        return self._flags.hybrid_orchestrator

    @property
    def legacy_transport(self) -> str:
        """The transport of the legacy single-transport mode."""
        return self._legacy

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """Start every transport, the health monitor, the recovery loop and maintenance."""
        if self._running:
            return
        self._running = True
        started: list[Transport] = []
        try:
            for t in self._transports.values():
                await t.start(self)
                started.append(t)
        except BaseException:
            self._running = False
            for t in started:
                await t.stop()
            raise
        self._unsubscribe_flags = self._flags.subscribe(self._on_flag)
        self._publisher.open()
        await self._resilience.start()
        await self._health.start()
        self._maintenance = asyncio.get_running_loop().create_task(self._maintain())

    async def stop(self) -> None:
        """Fail pending sends, stop every loop and transport, close subscriptions. Idempotent."""
        if not self._running:
            return
        self._running = False
        await self._publisher.finish()  # broadcasts made so far still go out
        self._publisher.close()
        if self._unsubscribe_flags is not None:
            self._unsubscribe_flags()
            self._unsubscribe_flags = None
        if self._maintenance is not None:
            self._maintenance.cancel()
            await asyncio.gather(self._maintenance, return_exceptions=True)
            self._maintenance = None
        await self._health.stop()
        await self._resilience.stop()
        for op in list(self._pending.values()):
            op.abort("stopped")
        for _, fut in self._pings.values():
            if not fut.done():
                fut.cancel()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._flood.clear()
        await self._outboxes.close()
        for t in self._transports.values():
            try:
                await t.stop()
            except TransportError as exc:
                log.warning("mesh: stopping %s failed: %s", t.name, exc)
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub.close()

    async def __aenter__(self) -> Mesh:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ connecting

    def active_transports(self) -> list[Transport]:
        """The transports the orchestrator uses now (all in hybrid mode, else the legacy one)."""
        if self.hybrid:
            return list(self._transports.values())
        return [self._transports[self._legacy]]

    async def connect(self, peer_id: str | None = None, *, address: str | None = None) -> str:
        """Link to a peer on every active transport that can reach it; return its proven peer id.

        On a :class:`~swarmmesh.MemoryNetwork` the peer id is all it takes. Breakers gate
        each dial and record its outcome. Raises :class:`TransportError` (code
        ``"unreachable"``) if no transport could link.
        """
        self._check_running()
        if peer_id is not None and self._resilience.is_banned(peer_id):
            raise TransportError("mesh", f"{peer_id} is banned", code="banned")
        reasons: list[str] = []
        proven: str | None = None
        for t in self.active_transports():
            if not t.supports(peer_id, address=address):
                continue
            target = peer_id if peer_id is not None else proven
            try:
                got = await self._dial(t, target, address=address if target is None else None)
            except TransportError as exc:
                reasons.append(f"{t.name}: {exc.code}")
                continue
            proven = got
        if proven is None:
            detail = "; ".join(reasons) or "no transport supports it"
            raise TransportError("mesh", f"cannot reach {peer_id or address}: {detail}", code="unreachable")
        self._wanted[proven] = None
        return proven

    async def _dial(self, t: Transport, peer_id: str | None, *, address: str | None = None) -> str:
        """Dial, gated by the pair's breaker (by peer id) or the endpoint's (by address)."""
        if peer_id is not None and peer_id in t.linked():
            return peer_id
        endpoint = f"{t.name}:{address}" if peer_id is None and address is not None else None
        if endpoint is not None:
            if not self._resilience.endpoint_allow(endpoint):
                raise TransportError(t.name, f"breaker of {endpoint} open", code="breaker_open")
        elif peer_id is not None and not self._resilience.allow(peer_id, t.name):
            raise TransportError(t.name, "breaker open", code="breaker_open")
        try:
            got = await within(self._clock, self._config.dial_timeout_s, t.dial(peer_id, address=address))
        except UnsupportedError:
            raise
        except (TimeoutError, TransportError) as exc:
            code = exc.code if isinstance(exc, TransportError) else "timeout"
            if endpoint is not None:
                self._resilience.endpoint_failure(endpoint, f"dial_{code}")
            elif peer_id is not None:
                self._resilience.record_failure(peer_id, t.name, f"dial_{code}")
            if isinstance(exc, TransportError):
                raise
            raise TransportError(t.name, "dial timed out", code="timeout") from None
        if endpoint is not None:
            self._resilience.endpoint_success(endpoint)
        self._resilience.record_success(got, t.name)
        return got

    def peers(self) -> frozenset[str]:
        """The peers with at least one link up."""
        return frozenset(p for p, ts in self._links.items() if ts)

    def linked_peers(self) -> KeysView[str]:
        """A live view of the peers with at least one link up (no copy: for hot paths)."""
        return self._links.keys()

    def links(self) -> dict[str, frozenset[str]]:
        """For every linked peer, the transports it is linked on."""
        return {p: frozenset(ts) for p, ts in self._links.items() if ts}

    # ------------------------------------------------------------------ LinkHandler

    def on_link_up(self, transport: str, peer_id: str) -> None:
        """A transport reports an authenticated link (LinkHandler)."""
        if self._resilience.is_banned(peer_id):
            self._spawn(self._transports[transport].disconnect(peer_id, "banned"))
            return
        self._links.setdefault(peer_id, set()).add(transport)
        self._flood.invalidate()
        self._health.track(peer_id, transport)
        self._count["links_up"] += 1

    def on_link_down(self, transport: str, peer_id: str, reason: str) -> None:
        """A transport reports a link gone (LinkHandler)."""
        ts = self._links.get(peer_id)
        if ts is not None:
            ts.discard(transport)
            if not ts:
                del self._links[peer_id]
        self._health.untrack(peer_id, transport)
        self._flood.invalidate()
        self._outboxes.drop_peer(transport, peer_id)
        self._count["links_down"] += 1
        if reason not in _ORDERLY and self._running:
            self._resilience.record_failure(peer_id, transport, "link_down")

    def on_frame(self, transport: str, peer_id: str, frame: bytes) -> None:
        """A frame arrived (LinkHandler): reassemble, decode, dispatch. Never raises."""
        # The hot path: most frames of a flood are copies of a broadcast already accepted;
        # its id sits at a fixed offset, so a duplicate is dropped without decoding it.
        broadcast = len(frame) >= _MIN_ENVELOPE and frame[0] == FRAME_ENVELOPE and frame[2] == _KIND_BROADCAST
        if broadcast and self._dedup.contains(frame[6:22], self._clock.now_ms()):
            self._count["duplicates"] += 1
            return
        if self._banned and peer_id in self._banned:
            if self._resilience.is_banned(peer_id):
                self._dropped["banned"] += 1
                return
            self._banned.discard(peer_id)
        if not broadcast and frame[0:1] == _CHUNK:
            try:
                whole = self._reassembler.push(f"{transport}|{peer_id}", frame, self._clock.now_ms())
            except DecodeError as exc:
                self._malformed(transport, peer_id, f"chunk_{exc.reason}")
                return
            if whole is None:
                return
            frame = whole
            broadcast = _is_broadcast(frame)
            if broadcast and self._seen(frame):
                return
        # A copy of a broadcast waiting for verification joins it, undecoded.
        if broadcast and self._flood.merge(frame, peer_id):
            return
        try:
            env = Envelope.from_bytes(frame)
        except DecodeError as exc:
            self._malformed(transport, peer_id, exc.reason)
            return
        kind = env.kind
        if kind == "broadcast":
            self._flood.receive(frame, env, transport, peer_id)
        elif kind == "ack" or kind == "nack":
            op = self._pending.get(env.message_id)
            if op is None:
                self._count["late_acks"] += 1
            elif op.peer_id != peer_id:  # only the recipient may answer for its message
                self._dropped["foreign_ack"] += 1
            elif kind == "ack":
                op.acked(transport)
            else:
                op.rejected(transport, env.payload.decode(errors="replace") or "rejected")
        elif kind == "data":
            self._on_data(env, transport, peer_id)
        elif kind == "ping":
            self._reply(
                transport, peer_id, Envelope("pong", env.message_id, self._keypair.public_key, "", b"")
            )
        elif kind == "pong":
            pinged = self._pings.get(env.message_id)
            if pinged is None or pinged[0] != peer_id:
                self._count["late_pongs"] += 1
            elif not pinged[1].done():
                pinged[1].set_result(None)
        else:  # pragma: no cover - the decoder admits only the kinds above
            self._malformed(transport, peer_id, f"unknown_kind_{kind}")

    def _seen(self, frame: bytes) -> bool:
        """Whether the broadcast ``frame``'s id is in the dedup filter (counted as a duplicate)."""
        if self._dedup.contains(frame[6:22], self._clock.now_ms()):
            self._count["duplicates"] += 1
            return True
        return False

    def _malformed(self, transport: str, peer_id: str, reason: str) -> None:
        self._dropped[f"malformed:{reason}"] += 1
        log.info("mesh: malformed frame from %s on %s dropped (%s)", peer_id, transport, reason)
        self._resilience.misbehaved(peer_id, f"malformed:{reason}")

    # ------------------------------------------------------------------ unicast

    async def send(
        self,
        peer_id: str,
        topic: str,
        payload: bytes,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the issue's API; runs on the injected clock
    ) -> Receipt:
        """Send ``payload`` on ``topic`` to ``peer_id`` and wait for its end-to-end ack.

        Returns a :class:`Receipt`. Raises :class:`~swarmmesh.errors.DeliveryError` when
        every route failed or the deadline (``timeout``, default
        ``MeshConfig.send_timeout_s``) passed. Waits (up to ``MeshConfig.send_wait_s``)
        while the peer already has ``max_inflight_per_peer`` sends in flight.
        """
        self._check_running()
        budget = self._config.send_timeout_s if timeout is None else timeout
        if budget <= 0:
            raise InvalidArgumentError("timeout", f"must be > 0, got {timeout}")
        if peer_id == self.peer_id:
            raise InvalidArgumentError("peer_id", "cannot send to ourselves")
        try:
            target = public_key_of(peer_id)
        except (InvalidArgumentError, DecodeError) as exc:
            raise InvalidArgumentError("peer_id", f"not a peer id: {exc}") from exc
        slots = self._peer_slots.get(peer_id)
        if slots is None:
            slots = self._peer_slots[peer_id] = asyncio.Semaphore(self._config.max_inflight_per_peer)
        try:
            if self._send_slots.locked() or slots.locked():
                await within(self._clock, self._config.send_wait_s, _acquire_both(self._send_slots, slots))
            else:  # the common case: both free, no task, no timer
                await _acquire_both(self._send_slots, slots)
        except TimeoutError:
            self._count["send_backpressure"] += 1
            raise DeliveryError(peer_id, "no send slot freed in time", code="backpressure") from None
        try:
            msg_id = self._new_id()
            env = Envelope(
                "data", msg_id, self._keypair.public_key, topic, payload,
                ttl=0, timestamp_ms=self._clock.wall_ms(), target=target,
            )  # fmt: skip
            op = SendOp(self, peer_id, msg_id, env.to_bytes(), budget)
            self._pending[msg_id] = op
            self._count["sends"] += 1
            try:
                receipt = await op.run()
            except DeliveryError:
                self._count["sends_failed"] += 1
                raise
            self._count["sends_acked"] += 1
            self._delivered_by[receipt.transport] += 1
            return receipt
        finally:
            self._send_slots.release()
            slots.release()

    def candidates(self, peer_id: str) -> list[str]:
        """The transports a send to ``peer_id`` may use now, in configuration order."""
        return [t.name for t in self.active_transports() if t.supports(peer_id) or peer_id in t.linked()]

    def plan_routes(
        self, peer_id: str, *, among: Sequence[str] | None = None, busy: int = 0
    ) -> tuple[list[str], list[tuple[str, int]], list[str]]:
        """``(now, hedges, fallbacks)`` for one send (SendOp calls this).

        A reroute (hybrid mode) plans only the candidates ``among`` the routes not started
        yet, with ``busy`` attempts still in flight counted against ``max_parallel``.
        """
        names = self.candidates(peer_id)
        if not self.hybrid:
            legacy = [n for n in names if self._resilience.would_allow(peer_id, n)]
            if not legacy:
                return [], [], []
            return legacy[:1], [], legacy[:1] * (self._config.legacy_attempts - 1)
        if among is not None:
            names = [n for n in names if n in among]
        parallel = max(1, self._config.max_parallel - busy)
        plan = self._router.plan(peer_id, names, self._clock.now_ms(), parallel)
        return plan.now, plan.hedges, plan.fallbacks

    async def attempt(self, transport: str, op: SendOp) -> None:
        """One attempt's I/O: gate by the breaker, dial if needed, write (chunked if large).

        Raises :class:`~swarmmesh.mesh.sending.AttemptError` when it cannot be made.
        """
        t = self._transports[transport]
        peer_id = op.peer_id
        if peer_id not in t.linked():
            try:
                await self._dial(t, peer_id)  # gated and recorded by the breaker itself
            except UnsupportedError:
                raise AttemptError("unsupported", count=False) from None
            except TransportError as exc:
                counted = exc.code != "breaker_open"
                raise AttemptError(f"dial_{exc.code}", recorded=True, count=counted) from None
        if not op.wanted:
            raise AttemptError("cancelled", recorded=True, count=False)
        if not self._resilience.allow(peer_id, transport):
            raise AttemptError("breaker_open", recorded=True, count=False)
        try:
            await self._write(t, peer_id, op.frame, op.msg_id)
        except TransportError as exc:
            raise AttemptError(exc.code) from None

    async def _write(self, t: Transport, peer_id: str, frame: bytes, chunk_id: bytes) -> None:
        limit = self.max_frame(t)
        if len(frame) <= limit:
            await t.send(peer_id, frame)
            return
        for chunk in split_frame(frame, limit, chunk_id):
            await t.send(peer_id, chunk)
        self._count["chunked_frames"] += 1

    def observe(
        self,
        peer_id: str,
        transport: str,
        ok: bool,
        rtt_ms: float | None,
        reason: str = "",
        *,
        breaker: bool = True,
    ) -> None:
        """Feed one attempt's outcome to the router and (unless already done) the breakers."""
        self._router.observe(peer_id, transport, ok, rtt_ms, self._clock.now_ms())
        if not breaker:
            return
        if ok:
            self._resilience.record_success(peer_id, transport)
        else:
            self._resilience.record_failure(peer_id, transport, reason or "failed")

    def note_first_attempt(self, transport: str) -> None:
        """Count the transport of a send's first attempt (stats)."""
        self._first_attempts[transport] += 1

    def count(self, what: str, n: int = 1) -> None:
        """Bump a counter of :meth:`stats`."""
        self._count[what] += n

    def drop(self, reason: str, n: int = 1) -> None:
        """Count ``n`` dropped frames or messages under ``reason`` (``stats()["dropped"]``)."""
        self._dropped[reason] += n

    def max_frame(self, t: Transport) -> int:
        """The largest frame ``t`` takes (cached: capabilities are fixed once started)."""
        limit = self._max_frame.get(t.name)
        if limit is None:
            limit = self._max_frame[t.name] = t.capabilities.max_frame
        return limit

    def forget_send(self, msg_id: bytes) -> None:
        """A SendOp has resolved every attempt."""
        self._pending.pop(msg_id, None)

    def _on_data(self, env: Envelope, transport: str, peer_id: str) -> None:
        if env.target != self._keypair.public_key:
            self._dropped["wrong_target"] += 1
            return
        if env.origin_id != peer_id:
            self._malformed(transport, peer_id, "spoofed_origin")
            return
        now = self._clock.now_ms()
        if self._dedup.contains(env.message_id, now):
            self._count["duplicates"] += 1
        else:
            msg = Message(env.topic, env.payload, peer_id, env.message_id, transport)
            subs = self._subs.get(env.topic, ())
            if any(s.full for s in subs):
                self._dropped["subscriber_full"] += 1
                nack = Envelope(
                    "nack", env.message_id, self._keypair.public_key, env.topic, b"subscriber_full"
                )
                self._reply(transport, peer_id, nack)
                return
            self._dedup.check_and_insert(env.message_id, now)
            for s in subs:
                s.offer(msg)
            self._count["received" if subs else "unclaimed"] += 1
        ack = Envelope("ack", env.message_id, self._keypair.public_key, env.topic, b"")
        self._reply(transport, peer_id, ack)

    def _reply(self, transport: str, peer_id: str, env: Envelope) -> None:
        t = self._transports.get(transport)
        if t is not None:
            self._outboxes.put(t, peer_id, [env.to_bytes()])

    # ------------------------------------------------------------------ broadcast

    async def broadcast(self, topic: str, payload: bytes) -> bytes:
        """Flood a signed message over every healthy transport; return its message id.

        The message is signed and queued for every peer before this returns, except
        during a burst (``MeshConfig.sign_offload_min`` broadcasts in one loop
        iteration), when the rest of the burst is signed on the core's signer thread
        and leaves, in order, a few milliseconds later. Waits while
        ``MeshConfig.sign_queue`` broadcasts wait for that thread.
        """
        self._check_running()
        msg_id = self._new_id()
        env = Envelope(
            "broadcast", msg_id, self._keypair.public_key, topic, payload,
            ttl=self._config.broadcast_ttl, timestamp_ms=self._clock.wall_ms(),
        )  # fmt: skip
        self._dedup.check_and_insert(msg_id, self._clock.now_ms())
        self._count["broadcasts"] += 1
        await self._publisher.publish(env, msg_id)
        return msg_id

    def publish_local(self, msg: Message) -> None:
        """Hand a broadcast to this node's subscribers of its topic (oldest dropped when full)."""
        for s in self._subs.get(msg.topic, ()):
            s.push(msg)

    # ------------------------------------------------------------------ subscriptions

    def subscribe(self, topic: str) -> Subscription:
        """An async iterator of the messages (unicast and broadcast) on ``topic``."""
        sub = Subscription(topic, self._config.subscription_queue, self._unsubscribe)
        self._subs.setdefault(topic, []).append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.topic)
        if subs is not None and sub in subs:
            subs.remove(sub)
            if not subs:
                del self._subs[sub.topic]

    # ------------------------------------------------------------------ health, probes, bans, flags

    async def ping(self, peer_id: str, transport: str) -> float:
        """Ping ``peer_id`` over ``transport``; return the RTT in ms (TimeoutError, TransportError)."""
        t = self._transports[transport]
        msg_id = self._new_id()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pings[msg_id] = (peer_id, fut)
        start = self._clock.now()
        try:
            await t.send(peer_id, Envelope("ping", msg_id, self._keypair.public_key, "", b"").to_bytes())
            await within(self._clock, self._config.health.timeout_s, fut)
        finally:
            self._pings.pop(msg_id, None)
        return (self._clock.now() - start) * 1000.0

    async def _ping(self, peer_id: str, transport: str) -> float:
        return await self.ping(peer_id, transport)

    def _on_health(self, peer_id: str, transport: str, ok: bool, rtt_ms: float) -> None:
        self._flood.invalidate()  # the transport's verdict may have changed
        self._router.observe(peer_id, transport, ok, rtt_ms if ok else None, self._clock.now_ms())

    async def _probe(self, peer_id: str, transport: str) -> bool:
        t = self._transports.get(transport)
        if t is None or self._resilience.is_banned(peer_id):
            return False
        try:
            if peer_id not in t.linked():
                await within(self._clock, self._config.dial_timeout_s, t.dial(peer_id))
            await self.ping(peer_id, transport)
        except (TransportError, TimeoutError):
            return False
        return True

    def _on_ban(self, peer_id: str, reason: str) -> None:
        log.warning("mesh: %s banned (%s): disconnecting it everywhere", peer_id, reason)
        self._count["bans"] += 1
        self._banned.add(peer_id)
        self._wanted.pop(peer_id, None)
        for t in self._transports.values():
            if peer_id in t.linked():
                self._spawn(t.disconnect(peer_id, "banned"))

    def _on_flag(self, name: str, value: bool) -> None:
        self._flood.invalidate()
        if name == "connection_resilience":
            self._resilience.enabled = value
        elif name == "hybrid_orchestrator" and value and self._running:
            # Back to hybrid: link the connected peers on the other transports too.
            for peer in list(self._wanted):
                self._spawn(self._relink(peer))
        log.info("mesh: flag %s is now %s", name, "on" if value else "off")

    def _missing(self, t: Transport, peer_id: str) -> bool:
        """Whether a link to ``peer_id`` on ``t`` is missing and may be dialled now."""
        return (
            peer_id not in t.linked()
            and t.supports(peer_id)
            and self._resilience.would_allow(peer_id, t.name)
        )

    async def _relink(self, peer_id: str) -> None:
        for t in self.active_transports():
            if self._missing(t, peer_id):
                try:
                    await self._dial(t, peer_id)
                except TransportError as exc:
                    log.debug("mesh: redial %s on %s failed: %s", peer_id, t.name, exc)

    async def _maintain(self) -> None:
        interval = self._config.maintenance_interval_s
        while True:
            await self._clock.sleep(interval)
            expired = self._reassembler.expire(self._clock.now_ms())
            if expired:
                self._dropped["chunks_expired"] += expired
            budget = self._config.redials_per_round
            for peer in list(self._wanted):
                if budget <= 0:
                    break
                if any(self._missing(t, peer) for t in self.active_transports()):
                    budget -= 1
                    await self._relink(peer)

    # ------------------------------------------------------------------ stats and helpers

    def backlog(self) -> int:
        """Frames waiting in this mesh: queued gossip, broadcasts awaiting verification or signing."""
        return self._outboxes.queued() + len(self._flood) + len(self._publisher)

    def stats(self) -> dict[str, object]:
        """Counters and gauges: sends, broadcasts, drops by reason, queues, router, breakers."""
        return {
            "peer_id": self.peer_id,
            "hybrid": self.hybrid,
            "resilience_enabled": self._resilience.enabled,
            "peers": len(self.peers()),
            "counters": dict(self._count),
            "dropped": dict(self._dropped),
            "first_attempts": dict(self._first_attempts),
            "delivered_by": dict(self._delivered_by),
            "pending_sends": len(self._pending),
            "gossip": dict(self._outboxes.counters),
            "gossip_queued": self._outboxes.queued(),
            "subscriptions": {t: len(s) for t, s in self._subs.items()},
            "subscription_drops": sum(s.dropped for subs in self._subs.values() for s in subs),
            "dedup": {"inserted": self._dedup.stats().inserted, "duplicates": self._dedup.stats().duplicates},
            "reassembly": self._reassembler.stats(),
            "health": {name: self._health.health(name).value for name in self._transports},
            "resilience": self._resilience.snapshot(),
        }

    def _new_id(self) -> bytes:
        self._id_counter += 1
        h = self._id_hash.copy()
        h.update(self._id_counter.to_bytes(8, "little"))
        return h.digest()

    def _check_running(self) -> None:
        if not self._running:
            raise DeliveryError(self.peer_id, "the mesh is not running", code="stopped")

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self.spawn(coro)

    def schedule(self, seconds: float, callback: Callable[[], object]) -> TimerHandle:
        """A timer on the injected clock (SendOp uses this)."""
        return self._clock.call_later(seconds, callback)

    def attempt_timeout(self, peer_id: str, transport: str) -> float:
        """Seconds an attempt to ``peer_id`` over ``transport`` waits for its ack.

        The pair's RFC 6298 retransmission timeout from the router's RTT estimate, within
        ``[min_attempt_timeout_s, attempt_timeout_s]``; the upper bound before any sample.
        """
        cfg = self._config
        return (
            self._router.rto_ms(
                peer_id, transport, cfg.min_attempt_timeout_s * 1000.0, cfg.attempt_timeout_s * 1000.0
            )
            / 1000.0
        )

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``coro`` as a task the mesh owns (cancelled by :meth:`stop`)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def _is_broadcast(frame: bytes) -> bool:
    """Whether ``frame`` claims to be a whole broadcast envelope (its header says so)."""
    return len(frame) >= _MIN_ENVELOPE and frame[0] == FRAME_ENVELOPE and frame[2] == _KIND_BROADCAST


async def _acquire_both(a: asyncio.Semaphore, b: asyncio.Semaphore) -> None:
    await a.acquire()
    try:
        await b.acquire()
    except BaseException:
        a.release()
        raise
