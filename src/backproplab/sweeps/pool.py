"""Worker processes that each run one task at a time, so that a death has one owner.

``concurrent.futures.ProcessPoolExecutor`` cannot say which task a dead worker
was running: one death breaks the whole pool and fails every task in flight.
:class:`WorkerPool` keeps one pipe per worker process instead, so the driver
knows at every moment which worker runs which task; a worker that dies (or is
stopped because its task ran too long, :meth:`WorkerPool.stop`) costs only its
own task, and the other workers keep running theirs.

Worker processes never see the terminal's Ctrl-C: ``SIGINT`` is blocked while
one starts (the block is inherited through ``fork`` and ``exec``, so an
interpreter still importing cannot print a ``KeyboardInterrupt`` traceback) and
ignored once it runs. The driver alone handles the interrupt and stops them.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.resource_tracker
import signal
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

#: Seconds a worker gets to leave after it was asked to (then it is killed).
LEAVE_TIMEOUT = 5.0
#: Signals blocked while a worker process starts (see the module docstring).
START_BLOCKED = {signal.SIGINT, signal.SIGTERM}


@dataclass
class _Worker:
    process: Any                   # multiprocessing.Process
    conn: Connection               # the driver's end of the worker's pipe
    key: str | None = None         # the task it runs, None when idle


@dataclass(frozen=True)
class Outcome:
    """What :meth:`WorkerPool.wait` reports for one task.

    Attributes
    ----------
    key : str
        The task's key, as given to :meth:`WorkerPool.submit`.
    died : bool
        Whether its worker died before answering.
    value : object
        When it finished: ``(True, result)``, or ``(False, traceback text)``
        when the task raised; when its worker died: how the process ended, in
        words (:func:`how_it_ended`).
    """

    key: str
    died: bool
    value: Any


def _serve(conn: Connection, fn: Callable[[Any], Any], initializer: Callable[..., None],
          initargs: tuple) -> None:
    """Body of a worker process: ``initializer(*initargs)``, then run ``fn`` on each
    task received from ``conn`` and send back ``(True, result)``, or ``(False,
    traceback text)`` when ``fn`` raised or its result could not be sent; ends
    on ``None`` or when the driver's end closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C
    signal.pthread_sigmask(signal.SIG_UNBLOCK, START_BLOCKED)
    initializer(*initargs)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        try:
            answer = (True, fn(task))
        except Exception:  # noqa: BLE001 - reported to the driver as the task's failure
            answer = (False, traceback.format_exc())
        try:
            conn.send(answer)
        except (BrokenPipeError, EOFError):
            return
        except Exception:  # noqa: BLE001 - e.g. a result that cannot be pickled
            conn.send((False, traceback.format_exc()))


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    old = signal.pthread_sigmask(signal.SIG_BLOCK, START_BLOCKED)
    try:
        yield
    finally:  # a signal that came meanwhile is delivered now, to the driver alone
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def how_it_ended(exitcode: int | None) -> str:
    """A dead worker's end in words.

    Parameters
    ----------
    exitcode : int or None
        :attr:`multiprocessing.Process.exitcode` (negative: the signal).

    Returns
    -------
    str

    Examples
    --------
    >>> how_it_ended(-9), how_it_ended(70), how_it_ended(None)
    ('killed by SIGKILL', 'exit status 70', 'ended')
    """
    if exitcode is None:
        return "ended"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit status {exitcode}"


class WorkerPool:
    """``size`` worker processes, started when first needed, one task each at a time.

    Parameters
    ----------
    size : int
        The most tasks in flight.
    fn : callable
        What a worker does with a task (a module-level function: it is pickled).
    initializer : callable
        Called once in each worker process with ``initargs`` before its first task.
    initargs : tuple
        Arguments of ``initializer``.
    start_method : str
        The ``multiprocessing`` start method (``"spawn"``: a fresh interpreter).

    Example
    -------
    >>> pool = WorkerPool(2, str.upper, initializer=print, initargs=())  # doctest: +SKIP
    >>> pool.submit("a", "text"); pool.wait()                            # doctest: +SKIP
    [Outcome(key='a', died=False, value=(True, 'TEXT'))]
    """

    def __init__(self, size: int, fn: Callable[[Any], Any], *,
                 initializer: Callable[..., None], initargs: tuple = (),
                 start_method: str = "spawn"):
        self.size = size
        self.fn = fn
        self.initializer = initializer
        self.initargs = initargs
        self.ctx = multiprocessing.get_context(start_method)
        self.workers: list[_Worker] = []

    @property
    def busy(self) -> int:
        """How many tasks are in flight."""
        return sum(1 for w in self.workers if w.key is not None)

    def pids(self) -> dict[str, int]:
        """The process id running each task in flight."""
        return {w.key: w.process.pid for w in self.workers if w.key is not None}

    def _start(self) -> _Worker:
        if self.ctx.get_start_method() != "fork":
            # started now, not within start(): it unblocks SIGINT after starting itself
            multiprocessing.resource_tracker.ensure_running()
        mine, theirs = self.ctx.Pipe(duplex=True)
        process = self.ctx.Process(target=_serve, name="backproplab-worker", daemon=True,
                                   args=(theirs, self.fn, self.initializer, self.initargs))
        with _signals_blocked():
            process.start()
            worker = _Worker(process, mine)
            self.workers.append(worker)
        theirs.close()
        return worker

    def submit(self, key: str, task: Any) -> None:
        """Run ``task`` (known as ``key``) on an idle worker, starting one if needed."""
        if self.busy >= self.size:
            raise RuntimeError("every worker is busy")
        idle = [w for w in self.workers if w.key is None]
        worker = idle[0] if idle else self._start()
        worker.key = key
        try:
            worker.conn.send(task)
        except (BrokenPipeError, ConnectionResetError):
            pass  # it died while idle: wait() reports the death for this task

    def wait(self, timeout: float | None = None) -> list[Outcome]:
        """Wait up to ``timeout`` seconds (None: no limit) for tasks to finish or
        their workers to die; returns what happened (an empty list on timeout)."""
        busy = [w for w in self.workers if w.key is not None]
        if not busy:
            return []
        ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy],
                         timeout))
        outcomes = []
        for worker in busy:
            if worker.conn in ready:
                with contextlib.suppress(EOFError, OSError):
                    outcomes.append(Outcome(worker.key, False, worker.conn.recv()))
                    worker.key = None
                    continue
            if worker.conn in ready or worker.process.sentinel in ready:
                outcomes.append(Outcome(worker.key, True, self._bury(worker)))
        return outcomes

    def _bury(self, worker: _Worker) -> str:
        """Forget a dead (or stopped) worker; how it ended, in words."""
        _reap(worker)
        self.workers.remove(worker)
        return how_it_ended(worker.process.exitcode)

    def stop(self, key: str) -> None:
        """Kill the worker running ``key`` (e.g. its time ran out); the task is dropped."""
        for worker in self.workers:
            if worker.key == key:
                worker.process.kill()
                self._bury(worker)
                return

    def close(self) -> None:
        """Let idle workers leave and wait for them; kill any that are busy or stay."""
        for worker in self.workers:
            if worker.key is None:
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
        self._end(graceful=True)

    def terminate(self) -> None:
        """Kill every worker now (an interrupted sweep: the trials resume next time)."""
        self._end(graceful=False)

    def _end(self, graceful: bool) -> None:
        workers, self.workers = self.workers, []
        for worker in workers:
            if not graceful or worker.key is not None:
                with contextlib.suppress(OSError):
                    worker.process.kill()
        for worker in workers:
            _reap(worker)


def _reap(worker: _Worker) -> None:
    """Wait a moment for ``worker``'s process to end, kill it if it stays, close its pipe."""
    worker.process.join(LEAVE_TIMEOUT)
    if worker.process.is_alive():
        worker.process.kill()
        worker.process.join()
    worker.conn.close()


__all__ = ["LEAVE_TIMEOUT", "Outcome", "WorkerPool", "how_it_ended"]
