"""Fan a batch out over Ray workers (the optional ``cluster`` extra; DESIGN.md section 7).

`RayExecutor` is an executor for `deconv_gui.core.batch.run_batch`: it connects to a Ray
cluster (``local`` starts one on this machine; ``ray://HOST:PORT`` goes through Ray Client;
``HOST:PORT`` or ``auto`` joins a cluster this machine is part of), starts worker actors that
each build the recipe's models once (`photo_work`, the same work the local batch runs) and
sends them the files, a few at a time each. Workers read inputs and write outputs through
paths every machine shares and return one small result per file; the driver (this process)
alone writes the output folder's manifest, so resume works across machines.

With GPUs in the cluster each worker takes one (``num_gpus=1``) and there is one worker per
GPU; without, one worker per node with the node's CPUs, or ``workers`` sharing the CPUs.
A worker process that dies (killed, out of host memory, a node lost) is restarted by Ray and
its file retried (``max_restarts``, ``max_task_retries``); a retry replaces whatever an
attempt wrote (writes are atomic, and the name is the plan's), so every input ends with
exactly one output. Ray is imported only here, only when a cluster is asked for.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import socket
import time
import warnings
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deconv_gui.core.pipeline import FileProgress, RunSummary
from deconv_gui.errors import DeconvError

if TYPE_CHECKING:
    from deconv_gui.core.batch import JobInfo
    from deconv_gui.core.naming import PlannedFile
    from deconv_gui.core.spec import LoadOptions

__all__ = ["ClusterInfo", "RayExecutor", "import_ray"]

log = logging.getLogger(__name__)

#: Files sent ahead to each worker, so it never waits for the driver between two files.
IN_FLIGHT_PER_WORKER = 2
#: Ray restarts a dead worker this often over a run (-1: always) and retries its file.
MAX_RESTARTS = -1
MAX_TASK_RETRIES = 2


def import_ray() -> Any:
    """Ray, or a one-line error saying how to get it."""
    try:
        import ray
    except ImportError:
        raise DeconvError(
            "--cluster needs Ray: pip install 'deconv-gui[cluster]' (or pip install 'ray[client]')"
        ) from None
    return ray


class _Worker:
    """A Ray actor: the recipe's models, built once, run on one file at a time."""

    def __init__(
        self,
        recipe_json: dict[str, Any],
        options: LoadOptions,
        tile_size: int | None,
        max_pixels: int,
        quality: int,
        bit_depth: int | None,
        threads: int,
    ) -> None:
        from functools import partial

        from deconv_gui.core.batch import photo_work
        from deconv_gui.core.devices import set_cpu_threads
        from deconv_gui.core.io import load_image
        from deconv_gui.core.recipe import Recipe
        from deconv_gui.models.catalog import default_registry

        set_cpu_threads(threads)
        self.registry = default_registry()
        self.recipe = Recipe.from_json(recipe_json)
        self.work = photo_work(
            self.recipe,
            self.registry.get,
            options,
            tile_size=tile_size,
            bit_depth=bit_depth,
            max_pixels=max_pixels,
        )
        self.load = partial(load_image, max_pixels=max_pixels)
        self.quality = quality

    def hello(self) -> dict[str, Any]:
        """Where this worker runs and the versions of its models (checked by the driver)."""
        from deconv_gui.core.manifest import model_version

        versions = {s.model: model_version(self.registry.get(s.model)) for s in self.recipe.steps}
        return {"host": socket.gethostname(), "pid": os.getpid(), "models": versions}

    def run(self, source: str, output: str) -> dict[str, Any]:
        from deconv_gui.core.errors import describe_error, is_bug
        from deconv_gui.core.naming import PlannedFile
        from deconv_gui.core.pipeline import restore_file
        from deconv_gui.core.tiling import run_to_end
        from deconv_gui.logs import WarningCollector

        t0 = time.monotonic()
        task = PlannedFile(Path(source), Path(output))
        said: list[str] = []  # the worker's log stays on its machine: its warnings go back
        chose: list[Any] = []  # what Auto chose (`AutoSetting`s), sent back as text
        try:
            with WarningCollector(said):
                job = restore_file(
                    task,
                    self.work,
                    overwrite=True,
                    load=self.load,
                    quality=self.quality,
                    chose=chose,
                )
                written = run_to_end(job)
        except Exception as exc:  # one photo failed: say why, the run goes on
            why = describe_error(exc)
            if is_bug(exc):
                import traceback

                why += "\n" + traceback.format_exc()
            return {"error": why, "host": socket.gethostname(), "pid": os.getpid(),
                    "warnings": said}  # fmt: skip
        seconds = time.monotonic() - t0
        return {"output": str(written), "seconds": seconds, "host": socket.gethostname(),
                "warnings": said, "auto": [a.text() for a in chose]}  # fmt: skip


@dataclass(frozen=True)
class ClusterInfo:
    """What a connection found and started: the address, the workers, CPUs and GPUs each."""

    address: str
    workers: int
    cpus_each: int
    gpus_each: int
    nodes: int

    def text(self) -> str:
        each = f"{self.gpus_each} GPU" if self.gpus_each else f"{self.cpus_each} CPU"
        return (
            f"Ray {self.address}: {self.workers} worker(s) with {each} each on {self.nodes} node(s)"
        )


class RayExecutor:
    """Runs a batch's files on Ray workers (see the module doc); a context manager.

    ``address``: ``local``, ``ray://HOST:PORT``, ``HOST:PORT`` or ``auto``. ``workers``: how
    many (default: one per GPU, else one per node); ``threads``: CPU threads of each (default:
    the CPUs Ray gives it). The first call connects and starts the
    workers; `close` stops them (and the local cluster when this executor started it).
    Calling the executor with planned files yields `FileProgress` when a file is sent and
    when it is back, and returns a `RunSummary`; ``cancel()`` returning True stops sending
    files and abandons those in flight (their workers are stopped by `close`).
    """

    def __init__(
        self,
        address: str,
        job: JobInfo,
        options: LoadOptions,
        *,
        tile_size: int | None = None,
        max_pixels: int = 250_000_000,
        workers: int | None = None,
        threads: int | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> None:
        if workers is not None and workers < 1:
            raise DeconvError("--workers must be at least 1")
        self.threads = threads
        self.address = address
        self.job = job
        self.options = options
        self.tile_size = tile_size
        self.max_pixels = max_pixels
        self.requested_workers = workers
        self.cancel = cancel
        self.info: ClusterInfo | None = None
        self._ray: Any = None
        self._actors: list[Any] = []
        self._started_ray = False

    # ------------------------------------------------------------------ set-up
    def start(self) -> ClusterInfo:
        """Connect and start the workers (once); check they run the driver's model versions."""
        if self.info is not None:
            return self.info
        ray = self._ray = import_ray()
        self._connect(ray)
        total = ray.cluster_resources()
        nodes = [n for n in ray.nodes() if n.get("Alive") and n["Resources"].get("CPU")]
        gpus = int(total.get("GPU", 0))
        node_cpus = min((int(n["Resources"]["CPU"]) for n in nodes), default=1)
        if gpus:
            count = self.requested_workers or gpus
            cpus_each, gpus_each = 1, 1
        else:
            count = self.requested_workers or max(1, len(nodes))
            cpus_each = max(1, min(node_cpus, int(total.get("CPU", 1)) // count))
            gpus_each = 0
        remote = ray.remote(_Worker).options(
            num_cpus=cpus_each,
            num_gpus=gpus_each,
            max_restarts=MAX_RESTARTS,
            max_task_retries=MAX_TASK_RETRIES,
        )
        out = self.job.output
        self._actors = [
            remote.remote(
                self.job.recipe.to_json(),
                self.options,
                self.tile_size,
                self.max_pixels,
                out.quality,
                out.bit_depth,
                self.threads or cpus_each,
            )
            for _ in range(count)
        ]
        try:
            hellos = ray.get([a.hello.remote() for a in self._actors])
        except Exception as exc:  # a worker could not start: no run
            self.close()
            raise DeconvError(f"a Ray worker could not start: {_first_line(exc)}") from None
        for h in hellos:
            if h["models"] != self.job.models:
                self.close()
                raise DeconvError(
                    f"the worker on {h['host']} has other model versions ({h['models']}) "
                    f"than this machine ({self.job.models}): install the same models everywhere"
                )
        self.info = ClusterInfo(self.address, count, cpus_each, gpus_each, len(nodes))
        return self.info

    def _connect(self, ray: Any) -> None:
        if ray.is_initialized():  # already connected (e.g. by the caller): use it
            return
        kw: dict[str, Any] = {"logging_level": "ERROR", "log_to_driver": False}
        _check_reachable(self.address)
        try:
            with warnings.catch_warnings():  # Ray's own (a UserWarning with a file path)
                warnings.simplefilter("ignore")
                if self.address == "local":
                    ray.init(include_dashboard=False, **kw)
                else:
                    ray.init(address=self.address, **kw)
        except Exception as exc:
            raise DeconvError(
                f"cannot connect to the Ray cluster {self.address!r}: {_first_line(exc)}"
            ) from None
        self._started_ray = True

    def pids(self) -> list[int]:
        """The worker processes' ids (for fault tests); starts the workers when needed."""
        self.start()
        ray = self._ray
        return [int(h["pid"]) for h in ray.get([a.hello.remote() for a in self._actors])]

    def close(self) -> None:
        ray = self._ray
        if ray is None:
            return
        for actor in self._actors:
            with contextlib.suppress(Exception):  # already gone
                ray.kill(actor)
        self._actors = []
        self.info = None
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ running
    def __call__(self, tasks: Sequence[PlannedFile]) -> Generator[FileProgress, None, RunSummary]:
        start = time.monotonic()
        summary = RunSummary()
        if not tasks:  # nothing to do: no cluster to start
            return summary
        self.start()
        ray = self._ray
        total = len(tasks)
        queue = collections.deque(enumerate(tasks))
        pending: dict[Any, tuple[int, int]] = {}  # result ref -> (file index, worker)
        busy = [0] * len(self._actors)
        while queue or pending:
            if self.cancel is not None and self.cancel():
                summary.cancelled = True
                break
            for w, actor in enumerate(self._actors):
                while queue and busy[w] < IN_FLIGHT_PER_WORKER:
                    i, task = queue.popleft()
                    ref = actor.run.remote(str(task.source), str(task.output))
                    pending[ref] = (i, w)
                    busy[w] += 1
                    yield FileProgress(i, total, task.source)
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.25)
            for ref in ready:
                i, w = pending.pop(ref)
                busy[w] -= 1
                src = tasks[i].source
                try:
                    result = ray.get(ref)
                except Exception as exc:  # the worker died on this file every time it tried
                    result = {"error": f"the Ray worker failed: {_first_line(exc)}"}
                said = tuple(str(w) for w in result.get("warnings", ()))
                for w in said:  # said here as a local run says it (stderr, the log)
                    log.warning("%s", w)
                summary.warned += [(src, w) for w in said]
                if "output" in result:
                    out = Path(result["output"])
                    summary.done.append((src, out))
                    auto = tuple(str(a) for a in result.get("auto", ()))
                    yield FileProgress(i, total, src, finished=True, output=out,
                                       warnings=said, auto=auto)  # fmt: skip
                else:
                    why, *trace = str(result["error"]).splitlines()
                    if trace:  # a bug in the worker: its traceback goes to the log
                        log.error("%s failed on a Ray worker: %s\n%s", src, why, "\n".join(trace))
                    summary.failed.append((src, why))
                    yield FileProgress(i, total, src, finished=True, error=why, warnings=said)
        summary.elapsed = time.monotonic() - start
        return summary


#: seconds to wait for a cluster's address to answer before Ray is asked to connect
REACH_TIMEOUT = 5.0


def _check_reachable(address: str) -> None:
    """Refuse a cluster address where nothing answers, before Ray is asked: ray.init on such
    an address retried for minutes inside native code, printing its internals, and Ctrl+C
    could not stop it. ``local`` and ``auto`` (a cluster started on this machine) are Ray's
    to find."""
    if address in ("local", "auto"):
        return
    where = address.removeprefix("ray://").rsplit("/", 1)[0]
    host, _, port = where.rpartition(":")
    if not host or not port.isdigit():
        raise DeconvError(
            f"--cluster {address}: give the head node as HOST:PORT (e.g. 192.168.1.20:6379), "
            "ray://HOST:PORT, local or auto"
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=REACH_TIMEOUT):
            pass
    except OSError as exc:
        why = (
            "nothing answers there"
            if isinstance(exc, (ConnectionRefusedError, TimeoutError))
            else (exc.strerror or str(exc))
        )
        raise DeconvError(
            f"cannot reach the Ray cluster at {address}: {why} (is `ray start --head` running "
            "there, and is the port open to this machine?)"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
