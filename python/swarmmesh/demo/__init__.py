"""``swarmmesh demo``: a local swarm that shows the hybrid mesh at work, then checks it.

A swarm of :class:`~swarmmesh.Mesh` es on a :class:`~swarmmesh.MemoryNetwork` (three
simulated transports with different loss and latency) plus two nodes linked over a real
:class:`~swarmmesh.WebSocketTransport` on 127.0.0.1 carries acknowledged unicast and
signed broadcast traffic; half way through, the best transport is killed, later revived.
The run is drawn live (rich) or as plain lines, and ends with a report whose checks make
the exit status: 0 only if nothing acknowledged was lost (see :mod:`swarmmesh.demo.ledger`
for exactly what is checked). See ``docs/demo.md``.

* :class:`DemoOptions` says what to run; :func:`swarmmesh.demo.scenario.run_demo` runs
  it (a coroutine) and returns a :class:`~swarmmesh.demo.scenario.DemoResult`; :func:`main`
  is the command (``asyncio.run`` + exit status). The scenario is imported only when the
  demo runs, so ``swarmmesh selfcheck`` does not pay for it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import TextIO

from swarmmesh.demo.options import DemoOptions
from swarmmesh.errors import ConfigError, SwarmMeshError

__all__ = ["DemoOptions", "add_arguments", "main", "options_from_args"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the demo's options to ``parser`` (the ``swarmmesh demo`` subcommand)."""
    d = DemoOptions()
    parser.add_argument(
        "--nodes", type=int, default=d.nodes, help=f"meshes on the MemoryNetwork (default {d.nodes})"
    )
    parser.add_argument(
        "--duration", type=float, default=d.duration_s, help=f"seconds of traffic (default {d.duration_s:g})"
    )
    parser.add_argument(
        "--loss",
        type=float,
        default=d.loss,
        help=f"base loss; integrated gets 1x, gun 10x, peerjs 40x (default {d.loss:g})",
    )
    parser.add_argument(
        "--seed", type=int, default=d.seed, help=f"seed of keys, topology and traffic (default {d.seed})"
    )
    parser.add_argument(
        "--links", type=int, default=d.links, help=f"random links per node (default {d.links})"
    )
    parser.add_argument(
        "--no-live",
        action="store_true",
        help="plain text lines instead of live tables (automatic when stdout is not a terminal)",
    )


def options_from_args(args: argparse.Namespace) -> DemoOptions:
    """The :class:`DemoOptions` of parsed command-line ``args``."""
    return DemoOptions(
        nodes=args.nodes,
        duration_s=args.duration,
        loss=args.loss,
        seed=args.seed,
        links=args.links,
        live=False if args.no_live else None,
    )


def main(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the demo for parsed ``args``; return the exit status.

    0: every required check passed; 1: one failed (or the swarm could not be built, said on
    stderr); 2: invalid options; 130: interrupted (Ctrl-C).
    """
    out = sys.stdout if out is None else out
    try:
        options = options_from_args(args)
    except ConfigError as exc:
        print(f"swarmmesh demo: {exc}", file=sys.stderr)
        return 2
    from swarmmesh.demo.scenario import run_demo  # the mesh loads only for the demo

    # The demo shows breaker transitions and health itself: keep the library's log lines
    # (warnings on every opened breaker) out of the picture unless logging is configured.
    lib = logging.getLogger("swarmmesh")
    quiet = not logging.getLogger().handlers and not lib.handlers
    null = logging.NullHandler()
    if quiet:
        lib.addHandler(null)
        lib.propagate = False
    try:
        result = asyncio.run(run_demo(options, out))
    except (SwarmMeshError, OSError) as exc:  # the swarm could not be built (e.g. no loopback socket)
        print(f"swarmmesh demo: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # the meshes were stopped on the way out
        print("swarmmesh demo: interrupted", file=sys.stderr)
        return 130
    finally:
        if quiet:
            lib.removeHandler(null)
            lib.propagate = True
    return result.exit_status
