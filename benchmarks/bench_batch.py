"""The README's batch table: a folder of photos through ``deconv-gui restore``, plain and on
a local Ray cluster, the time to resume a finished run, and two fault tests.

    nice -n 10 python benchmarks/bench_batch.py [--count 200] [--min-mp 2] [--max-mp 6]
        [--overhead-count 200] [--fault-count 12] [--model redunet-denoise-fast]
        [--work /tmp/bench-batch] [--skip-cluster]

Each run is its own ``deconv-gui restore IN -o OUT --model M --json`` process; the script
times every JSON line as it arrives. Three sets of JPEG photos (the bundled sample resized,
Gaussian noise sigma 15; seeded):

1. throughput: ``--count`` photos of ``--min-mp`` to ``--max-mp`` megapixels, run plain,
   with ``--cluster local --workers 1`` and ``--workers 2`` (Ray's start-up timed apart),
   then the plain command again on its finished output folder (the resume);
2. overhead: ``--overhead-count`` tiny photos (96x64), where the model's time is nothing,
   each run with ``--threads 1`` (each worker too), so the difference between the plain run
   and one worker is the cost per file of the Ray path; and the resume of that finished
   run;
3. faults, on ``--fault-count`` photos of 0.5-1 MP: one Ray worker killed (SIGKILL) after
   2 photos (the run goes on), and the whole CLI killed (SIGKILL) after a third of the
   photos, each followed by the same command again. Outputs are counted after each step:
   every input must end with exactly one complete output and no temporary file.

Prints the README's Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deconv_gui.bench import bench_photo
from deconv_gui.core.devices import cpu_bf16_is_fast
from deconv_gui.core.image import ImageMeta
from deconv_gui.core.io import load_image, save_image


@dataclass
class Run:
    """One ``restore`` process: wall time, and when each JSON event arrived."""

    label: str
    wall: float = 0.0
    returncode: int = 0
    events: list[tuple[float, dict]] = field(default_factory=list)

    def at(self, kind: str, last: bool = False) -> float | None:
        times = [t for t, e in self.events if e["event"] == kind]
        return (times[-1] if last else times[0]) if times else None

    @property
    def summary(self) -> dict:
        return next((e for _, e in reversed(self.events) if e["event"] == "summary"), {})

    @property
    def processing(self) -> float:
        """From the first photo sent to the summary (no process or Ray start-up)."""
        start = self.at("start")
        end = self.at("summary")
        return (end - start) if start is not None and end is not None else 0.0

    @property
    def done(self) -> int:
        return sum(1 for _, e in self.events if e["event"] == "done")

    @property
    def steady(self) -> float | None:
        """Seconds per photo after the first one (which also pays for loading the model)."""
        first, end = self.at("done"), self.at("summary")
        if first is None or end is None or self.done < 2:
            return None
        return (end - first) / (self.done - 1)

    @property
    def ray_start(self) -> float | None:
        plan, cluster = self.at("plan"), self.at("cluster")
        return (cluster - plan) if plan is not None and cluster is not None else None


def make_photos(folder: Path, count: int, min_mp: float, max_mp: float) -> float:
    """``count`` noisy JPEGs of min_mp-max_mp megapixels in ``folder`` (made once); returns
    the total megapixels."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    total = 0.0
    for i in range(count):
        mp = float(rng.uniform(min_mp, max_mp))
        w = int(round((mp * 1e6 * 3 / 2) ** 0.5))
        h = int(round(w * 2 / 3))
        total += w * h / 1e6
        path = folder / f"photo_{i:04d}.jpg"
        if not path.exists():
            save_image(path, bench_photo(w, h, noise=15.0, seed=i), ImageMeta(), quality=92)
    return total


def restore(label: str, args: list[str], *, kill_after: int | None = None, kill=None) -> Run:
    """Run ``deconv-gui restore ARGS --json``; with ``kill_after``, call ``kill(proc)`` after
    that many ``done`` events (and read on until the process ends)."""
    cmd = [sys.executable, "-m", "deconv_gui", "restore", *args, "--json"]
    run = Run(label)
    t0 = time.perf_counter()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as p:
        assert p.stdout is not None
        done = 0
        for line in p.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            run.events.append((time.perf_counter() - t0, event))
            if event["event"] == "done":
                done += 1
                if kill_after is not None and done == kill_after and kill is not None:
                    kill(p)
        p.wait()
        err = p.stderr.read() if p.stderr else ""
    run.wall = time.perf_counter() - t0
    run.returncode = p.returncode
    print(f"{label}: rc {p.returncode}, {run.wall:.1f} s, {run.summary}", file=sys.stderr)
    if p.returncode not in (0, -signal.SIGKILL):
        print(err[-2000:], file=sys.stderr)
    return run


def count_outputs(out: Path) -> tuple[int, int, int]:
    """(complete outputs, unreadable outputs, temporary files) below ``out``."""
    good = bad = temps = 0
    for p in out.rglob("*"):
        if not p.is_file() or ".deconv-gui" in p.parts:
            continue
        if p.name.endswith(".tmp"):
            temps += 1
            continue
        try:
            load_image(p)
            good += 1
        except Exception:  # noqa: BLE001 - counted
            bad += 1
    return good, bad, temps


def ray_worker_pids() -> list[int]:
    """The processes of our Ray actors (their title is ``ray::_Worker...``)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if cmdline.startswith(b"ray::_Worker"):
            pids.append(int(proc.name))
    return sorted(pids)


def table(runs: list[Run], megapixels: float, count: int) -> None:
    plain = runs[0]
    print("| run | photos done | wall time | Ray start | processing | per photo after the first | MP/s | vs plain, per photo |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for r in runs:
        s = r.summary
        mps = f"{megapixels / r.processing:.2f}" if r.done == count and r.processing else "-"
        ray = f"{r.ray_start:.1f} s" if r.ray_start is not None else "-"
        steady = f"{r.steady:.3f} s" if r.steady is not None else "-"
        over = "-"
        if r is not plain and r.steady is not None and plain.steady is not None:
            over = f"{(r.steady - plain.steady) * 1000:+.0f} ms"
        done = f"{r.done}" + (
            f" ({s.get('done_before')} done before)" if s.get("done_before") else ""
        )
        print(f"| {r.label} | {done} | {r.wall:.1f} s | {ray} | {r.processing:.1f} s | "
              f"{steady} | {mps} | {over} |")  # fmt: skip


def throughput(
    name: str,
    photos: Path,
    megapixels: float,
    count: int,
    args: argparse.Namespace,
    extra: tuple[str, ...] = (),
) -> list[Run]:
    """Plain, 1 and 2 Ray workers, then the resume of the plain run (``extra``: more
    options for every run)."""
    model = ["--model", args.model, *extra]
    plain_out = fresh(args.work / f"{name}-plain")
    runs = [restore("plain", [str(photos), "-o", str(plain_out), *model])]
    if not args.skip_cluster:
        for n in (1, 2):
            out = fresh(args.work / f"{name}-ray{n}")
            cluster = ["--cluster", "local", "--workers", str(n)]
            runs.append(restore(f"--cluster local --workers {n}", [str(photos), "-o", str(out), *model, *cluster]))  # fmt: skip
    runs.append(restore("resume (the finished plain run)", [str(photos), "-o", str(plain_out), *model]))  # fmt: skip
    print()
    print(f"{count} photos, {megapixels:.1f} MP in all, model {args.model}, "
          f"{os.cpu_count()} CPU cores {' '.join(extra)}:")  # fmt: skip
    print()
    table(runs, megapixels, count)
    if not args.skip_cluster and runs[1].processing and runs[2].processing:
        p = runs[0].processing
        print()
        print(f"throughput ratio (processing time, plain / cluster): 1 worker "
              f"{p / runs[1].processing:.2f}, 2 workers {p / runs[2].processing:.2f}")  # fmt: skip
    return runs


def fresh(out: Path) -> Path:
    shutil.rmtree(out, ignore_errors=True)
    return out


def faults(args: argparse.Namespace) -> None:
    subset = args.work / f"fault-in-{args.fault_count}"
    make_photos(subset, args.fault_count, 0.5, 1.0)
    model = ["--model", args.model]
    print()
    print(f"Fault tests on {args.fault_count} photos of 0.5-1 MP:")
    print()
    print("| fault | after the run: complete / unreadable / temporary | after the rerun | the rerun |")  # fmt: skip
    print("|---|---|---|---|")

    def row(name: str, out: Path, first: Run, cmd: list[str]) -> None:
        after = count_outputs(out)
        again = restore(f"{name}: rerun", cmd)
        final = count_outputs(out)
        s = again.summary
        did = (f"{s.get('done', 0)} done, {s.get('done_before', 0)} done before, "
               f"{s.get('failed', 0)} failed, {again.wall:.1f} s")  # fmt: skip
        print(f"| {name} (exit {first.returncode}, {first.done} reported done) "
              f"| {after[0]} / {after[1]} / {after[2]} | {final[0]} / {final[1]} / {final[2]} "
              f"| {did} |")  # fmt: skip

    if not args.skip_cluster:
        out = fresh(args.work / "fault-worker")
        cmd = [str(subset), "-o", str(out), *model, "--cluster", "local", "--workers", "2"]

        def kill_worker(_p: subprocess.Popen[str]) -> None:
            pids = ray_worker_pids()
            print(f"killing Ray worker {pids[:1]} of {pids}", file=sys.stderr)
            if pids:
                os.kill(pids[0], signal.SIGKILL)

        first = restore("one Ray worker killed", cmd, kill_after=2, kill=kill_worker)
        row("one Ray worker killed (SIGKILL) after 2 photos", out, first, cmd)

    out = fresh(args.work / "fault-cli")
    cmd = [str(subset), "-o", str(out), *model]
    k = max(1, args.fault_count // 3)
    first = restore("CLI killed", cmd, kill_after=k, kill=lambda p: os.kill(p.pid, signal.SIGKILL))
    row(f"the CLI killed (SIGKILL) after {k} photos", out, first, cmd)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--min-mp", type=float, default=2.0)
    ap.add_argument("--max-mp", type=float, default=6.0)
    ap.add_argument("--overhead-count", type=int, default=200, help="0: skip")
    ap.add_argument("--fault-count", type=int, default=12, help="0: skip")
    ap.add_argument("--model", default="redunet-denoise-fast")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench-batch"))
    ap.add_argument("--skip-cluster", action="store_true")
    args = ap.parse_args()
    # the app's precision (bfloat16 where the CPU has it natively) unless the environment
    # pins it; the same for every run
    print(f"CPU bfloat16: {cpu_bf16_is_fast()}", file=sys.stderr)

    if args.count:
        photos = args.work / f"in-{args.count}-{args.min_mp:g}-{args.max_mp:g}"
        mp = make_photos(photos, args.count, args.min_mp, args.max_mp)
        throughput("big", photos, mp, args.count, args)
    if args.overhead_count:
        tiny = args.work / f"tiny-{args.overhead_count}"
        mp = make_photos(tiny, args.overhead_count, 96 * 64 / 1e6, 96 * 64 / 1e6)
        # one thread each, so that plain and one worker do the same work
        throughput("tiny", tiny, mp, args.overhead_count, args, ("--threads", "1"))
    if args.fault_count:
        faults(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
