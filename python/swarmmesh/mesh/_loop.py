"""The one background task a long-lived mesh service owns: ``start()``, ``stop()``, ``async with``."""

from __future__ import annotations

import abc
import asyncio
from types import TracebackType
from typing import ClassVar, Self

__all__ = ["BackgroundLoop"]


class BackgroundLoop(abc.ABC):
    """Owns one task running :meth:`_run`; ``stop()`` cancels it and waits for it.

    Subclasses set ``self._task = None`` in ``__init__``, name the task in ``_task_name``
    and implement ``_run``.
    """

    __slots__ = ("_task",)
    _task_name: ClassVar[str]
    _task: asyncio.Task[None] | None

    @abc.abstractmethod
    async def _run(self) -> None:
        """The loop body; runs until cancelled."""

    async def start(self) -> None:
        """Start the loop (idempotent)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self._task_name)

    async def stop(self) -> None:
        """Stop the loop and wait for it (work in flight is cancelled). Idempotent."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
