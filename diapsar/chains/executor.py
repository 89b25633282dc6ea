"""Scale-out of the MultiSlc chain: units of work (the master's steps once, then one unit per pair depending on
it) run in this process, on a local dask cluster, on an existing dask scheduler, or on PBS/Slurm jobs started
by dask-jobqueue (``Compute`` section of the configuration).

A pair task is given a small picklable :class:`UnitTask` (the configuration, the master and slave images of the
datalake) and rebuilds what it needs from it and from the master products on disk (``.scene_dem.npz`` written
by the master unit, the master steps' completion records). It writes its folder and returns a summary
(``pair.json``'s timings or a one-line failure reason): one pair failing never stops the others, and a failed
pair's folder holds no ``pair.json`` (``pair_failed.json`` says why).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import layout
from ..config import ComputeConfig, MultiSlcConfig
from ..errors import ConfigError, DiapsarError
from ..io.raster import write_json
from ..io.stack import Image
from ..log import get_logger, setup_logging
from .context import RunContext, Unit, gdal_cache_mb, master_window, open_acquisition
from .steps import Step

log = get_logger("multislc")

SCENE_DEM_STATE = ".scene_dem.npz"  # master folder: the scene DEM heights as the master unit loaded them
PAIR_FAILED = "pair_failed.json"  # pair folder: why the pair failed (no pair.json beside it)
# Compute.swath_processes 0: swaths side by side from this size of a swath image on (a process costs a few
# seconds to start and load numba's cache; a full IW swath is ~300 Mpix, a test stack's < 1 Mpix)
AUTO_SWATH_MPIX = 20.0
MIN_UNIT_RAM_MB = 64  # smallest -ram share of a unit (the schema's minimum of Global.parameter.optram)


class PairsFailedError(DiapsarError):
    """Some pairs of the stack failed (the others completed)."""

    exit_code = 4


@dataclass(frozen=True)
class ChainSteps:
    """The chain a unit runs (given by the chain module: this one imports no chain): the master steps, and the
    pair step (its steps, pair.json, quicklooks). Picklable (module-level functions, a Step)."""

    master: Callable[[RunContext], None]
    pair: Step


@dataclass(frozen=True)
class UnitTask:
    """What a worker needs to run one unit: picklable (frozen configuration, datalake entries)."""

    chain: ChainSteps
    cfg: MultiSlcConfig
    master: Image
    slave: Image | None = None  # None: the master unit
    threads: int = 1  # numba threads of the task
    ram_mb: float | None = None  # the unit's share of -ram (None: all of it)

    @property
    def name(self) -> str:
        if self.slave is None:
            return layout.master_directory(self.master.date)
        return layout.pair_directory(self.master.date, self.slave.date)


@dataclass
class PairSummary:
    """What a pair unit returns to the driver."""

    name: str
    date: str
    ok: bool
    skipped: bool = False
    error: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    worker: str = ""


# ------------------------------------------------------------------------------------------------ unit bodies

def build_context(cfg: MultiSlcConfig, master_image: Image) -> RunContext:
    """The run context of a unit, from the configuration and the master image (IW: its debursted frame)."""
    from . import tops_steps

    master: Any = open_acquisition(master_image)
    if master.meta.is_tops:
        master = tops_steps.frame_master(master, cfg.burst_index)
    return RunContext(cfg=cfg, out=Path(cfg.output_path), master=master, window=master_window(cfg, master))


def master_work(chain: ChainSteps, ctx: RunContext) -> dict[str, float]:
    """The master unit: the master steps, the ortho lookup (made here once rather than by the first pair, so
    that pairs running side by side never make it together), and the scene DEM state for the pair units."""
    from ..io.atomic import atomic_path
    from .master_steps import ortho_lookup

    chain.master(ctx)
    cfg = ctx.cfg
    if cfg.activate_interferogram and cfg.activate_ortho:
        ortho_lookup(ctx, ctx.master_unit())
    dem = ctx.scene_dem
    with atomic_path(ctx.master_dir / SCENE_DEM_STATE) as tmp, open(tmp, "wb") as f:
        np.savez(f, heights_m=dem.heights_m, transform=np.asarray(dem.transform, dtype=np.float64))
    return dict(ctx.timings)


def restore_master(ctx: RunContext) -> None:
    """A pair unit's view of the master products: the scene DEM, Doppler, GCPs (every master step is
    complete: the master unit ran before; nothing of the master folder is written)."""
    from ..io.dem import Dem
    from .master_steps import cartesian_mean, dem_projection, multilook_doppler

    state = ctx.master_dir / SCENE_DEM_STATE
    try:
        with np.load(state) as z:
            x0, dx, rx, y0, ry, dy = (float(v) for v in z["transform"])
            ctx.dem = Dem(heights_m=z["heights_m"], transform=(x0, dx, rx, y0, ry, dy))
    except OSError:
        raise DiapsarError(f"{ctx.master_dir}: the master steps are not done (run the master unit first: "
                           "SAR_MultiSlc.py CONFIG --only-master)") from None
    _QUIET.on = True  # "already done" of every master step, once per pair: not worth a line
    try:
        unit = Unit(folder=ctx.master_dir, label=ctx.master.date)
        for step in (multilook_doppler, dem_projection, cartesian_mean):
            if not step(ctx, unit).skipped:
                log.warning("%s: master step %s was not complete: redone by a pair unit", ctx.master.date,
                            step.name)
    finally:
        _QUIET.on = False


class _Quiet(logging.Filter, threading.local):
    """Drops the INFO lines of the thread that set ``on`` (threads of a worker run pairs side by side)."""

    on = False

    def filter(self, record: logging.LogRecord) -> bool:
        return not (self.on and record.levelno <= logging.INFO)


_QUIET = _Quiet()
logging.getLogger("diapsar.multislc").addFilter(_QUIET)


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, DiapsarError) else f"{type(exc).__name__}: {text}"


def pair_work(chain: ChainSteps, ctx: RunContext, slave_image: Image) -> PairSummary:
    """One pair unit: its steps, pair.json and quicklooks; any failure is caught and reported (the folder then
    holds pair_failed.json and no pair.json)."""
    pair = chain.pair
    folder = ctx.out / layout.pair_directory(ctx.master.date, slave_image.date)
    summary = PairSummary(name=folder.name, date=slave_image.date, ok=False, worker=_worker_name())
    slave = None
    try:
        slave = open_acquisition(slave_image)
        unit = Unit(folder=folder, label=slave.date, slave=slave)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / PAIR_FAILED).unlink(missing_ok=True)
        result = pair(ctx, unit)
        summary.ok, summary.skipped = True, result.skipped
        summary.timings = {k: v for k, v in unit.timings.items() if k != pair.name}
    except Exception as exc:  # noqa: BLE001 - a pair's failure is its result, never the run's end
        summary.error = one_line(exc)
        log.error("pair %s failed: %s", folder.name, summary.error)
        log.debug("pair %s failure", folder.name, exc_info=True)
        mark_failed(folder, summary.error)
    finally:
        if slave is not None:
            slave.close()
    return summary


def mark_failed(folder: Path, reason: str) -> None:
    """A failed pair's folder is not presented as complete: no pair.json, pair_failed.json says why."""
    with contextlib.suppress(OSError):
        (folder / layout.PAIR_JSON).unlink(missing_ok=True)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / PAIR_FAILED, {"pair": folder.name, "reason": reason, "time": time.time()})


# ------------------------------------------------------------------------------------------------ worker side

def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().name)
    except (ImportError, ValueError):
        return "driver"


@contextlib.contextmanager
def _task_env(task: UnitTask) -> Iterator[None]:
    """What a task needs in a worker process: the log to <out>/info.log (appended, the driver's file), numba's
    thread count, GDAL's cache and the warning filters of the run."""
    import numba
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    logger = logging.getLogger("diapsar")
    if not logger.handlers:  # a worker process: log to the run's info.log and the worker's stderr
        setup_logging(task.cfg.output_path)
    # numba's thread pool size (NUMBA_NUM_THREADS, fixed when numba loads) bounds what a task may ask for
    pool = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]  # set by numba at import, untyped
    numba.set_num_threads(max(1, min(task.threads, pool)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.Env(GDAL_CACHEMAX=gdal_cache_mb(task.ram_mb or task.cfg.optram_mb),
                          GDAL_NUM_THREADS=gdal_threads()):
            yield


def run_master_task(task: UnitTask) -> dict[str, float]:
    """The master unit in a worker: returns the master steps' timings."""
    with _task_env(task):
        ctx = build_context(task.cfg, task.master)
        try:
            return master_work(task.chain, ctx)
        finally:
            ctx.master.close()


def run_pair_task(task: UnitTask, master_done: Any = None) -> PairSummary:
    """A pair unit in a worker (``master_done``: the master task's result, only there as the dependency)."""
    assert task.slave is not None
    with _task_env(task):
        try:
            ctx = build_context(task.cfg, task.master)
            ctx.unit_ram_mb = task.ram_mb
            restore_master(ctx)
        except Exception as exc:  # noqa: BLE001
            folder = Path(task.cfg.output_path) / task.name
            summary = PairSummary(task.name, task.slave.date, False, error=one_line(exc), worker=_worker_name())
            log.error("pair %s failed: %s", task.name, summary.error)
            mark_failed(folder, summary.error)
            return summary
        if task.ram_mb:
            log.info("%s: -ram share of this pair %.0f MB (of %d MB)", task.slave.date, task.ram_mb,
                     task.cfg.optram_mb)
        try:
            return pair_work(task.chain, ctx, task.slave)
        finally:
            ctx.master.close()


# ------------------------------------------------------------------------------------------------ executors

def gdal_threads() -> str:
    """GDAL's threads for compressing and decoding GeoTIFF blocks: numba's thread count of this unit (its share of
    the cores; the bytes written do not depend on it)."""
    import numba

    return str(max(1, int(numba.get_num_threads())))


def cores_given() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def executor_kind(compute: ComputeConfig, n_pairs: int) -> str:
    """The executor of a run: Compute.executor, ``auto`` resolved (dask only for a stack big enough)."""
    if compute.executor != "auto":
        return compute.executor
    return "local" if n_pairs >= compute.auto_min_pairs and cores_given() > 1 else "inprocess"


def local_workers(compute: ComputeConfig, ram_mb: int | None = None) -> int:
    """Workers of the local cluster: Compute.workers, else the cores given / threads per worker, no more than
    -ram (``ram_mb``) leaves MIN_UNIT_RAM_MB to each (unless Compute.ram_per_worker)."""
    if compute.workers:
        return compute.workers
    n = max(1, cores_given() // compute.threads_per_worker)
    if ram_mb is not None and not compute.ram_per_worker:
        n = max(1, min(n, ram_mb // MIN_UNIT_RAM_MB))
    return n


def memory_mb(text: str) -> int:
    """Compute.jobqueue.memory (4GB, 500MB, 2GiB) in MB."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT])i?B\s*", text)
    if not m:
        raise ConfigError(f"Compute.jobqueue.memory: {text!r} is not a memory size such as 4GB")
    scale = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}[m.group(2)]
    return max(1, int(round(float(m.group(1)) * scale)))


def check_job_memory(cfg: MultiSlcConfig, why: str) -> tuple[int, str]:
    """(cores, memory) of each batch job (ConfigError when missing); a job runs one unit at a time with all of
    -ram, which must fit in the job's memory."""
    cores, memory = cfg.compute.job_resources(why)
    if cfg.optram_mb > memory_mb(memory):
        raise ConfigError(f"-ram {cfg.optram_mb} MB (Global.parameter.optram) is more than the memory of each job "
                          f"(Compute.jobqueue.memory {memory}): lower -ram or give the jobs more memory")
    return cores, memory


def unit_ram_mb(cfg: MultiSlcConfig, kind: str) -> float | None:
    """The -ram share of one pair unit on executor ``kind`` (None: all of -ram). A local cluster's workers run
    pairs side by side on this machine: each gets -ram / workers (unless Compute.ram_per_worker); a job of
    dask-jobqueue or of --qsub/--sbatch, or a worker of a dask scheduler, runs one unit at a time with -ram.
    ConfigError (one line) when the share is below what a unit needs or -ram exceeds a job's memory."""
    c = cfg.compute
    if kind in ("slurm", "pbs"):
        check_job_memory(cfg, f"executor {kind}")
        return None
    if kind != "local" or c.ram_per_worker:
        return None
    n = local_workers(c, cfg.optram_mb)
    share = float(cfg.optram_mb) / n
    if share < MIN_UNIT_RAM_MB:
        raise ConfigError(f"--workers {n} (Compute.workers): -ram {cfg.optram_mb} MB split between {n} workers "
                          f"leaves {share:.0f} MB per pair, below the {MIN_UNIT_RAM_MB} MB a pair needs: give -ram "
                          f"{MIN_UNIT_RAM_MB * n} or more, fewer workers, or Compute.ram_per_worker true")
    return share if n > 1 else None


def probe_scheduler(address: str, timeout: float) -> None:
    """Connect to the dask scheduler at ``address`` and ask its identity, every stage bounded by ``timeout``
    (TimeoutError): a host that accepts the connection but never answers would hang the dask Client, whose
    timeout does not cover the handshake."""
    import asyncio

    from distributed.comm import connect

    async def identity() -> Any:
        comm = await asyncio.wait_for(connect(address, timeout=timeout), timeout)
        try:
            await asyncio.wait_for(comm.write({"op": "identity"}), timeout)
            return await asyncio.wait_for(comm.read(), timeout)
        finally:
            comm.abort()

    answer = asyncio.run(identity())
    if not isinstance(answer, dict) or answer.get("type") != "Scheduler":
        raise ValueError(f"{address} answered, but not as a dask scheduler")


@contextlib.contextmanager
def dask_client(cfg: MultiSlcConfig, kind: str) -> Iterator[Any]:
    """A dask client for ``kind`` (local, scheduler, slurm, pbs); the cluster is closed on exit."""
    from distributed import Client, LocalCluster

    c = cfg.compute
    cluster: Any = None
    if kind == "scheduler":
        assert c.scheduler is not None  # (config.check)
        reach_scheduler(cfg)
        try:
            client = Client(c.scheduler, timeout=f"{c.scheduler_timeout_s}s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise DiapsarError(f"Compute.scheduler: cannot reach the dask scheduler {c.scheduler} "
                               f"({one_line(exc)})") from None
    elif kind == "local":
        n, t = local_workers(c, cfg.optram_mb), c.threads_per_worker
        threads_env = {"NUMBA_NUM_THREADS": str(t), "OMP_NUM_THREADS": str(t), "OPENBLAS_NUM_THREADS": str(t),
                       "MKL_NUM_THREADS": str(t)}
        # one dask thread per worker (one unit at a time): the worker's threads are numba's inside the unit
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                               host="127.0.0.1", env=threads_env, silence_logs=logging.ERROR)
        client = Client(cluster)
        share = unit_ram_mb(cfg, kind)
        log.info("local dask cluster: %d worker(s) x %d thread(s); -ram %d MB: %s", n, t, cfg.optram_mb,
                 f"{share:.0f} MB per pair" if share else "each pair's budget")
    elif kind in ("slurm", "pbs"):
        cluster = jobqueue_cluster(cfg, kind)
        cluster.adapt(minimum_jobs=c.minimum_jobs, maximum_jobs=c.maximum_jobs)
        client = Client(cluster)
        log.info("%s dask-jobqueue cluster: adaptive %d..%d job(s) of %s core(s), %s, %s", kind, c.minimum_jobs,
                 c.maximum_jobs, c.cores, c.memory, c.walltime)
    else:  # pragma: no cover - the schema allows nothing else
        raise DiapsarError(f"Compute.executor: {kind} is not a dask executor")
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def thread_exports(threads: int) -> list[str]:
    return [f"export {v}={threads}" for v in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                               "MKL_NUM_THREADS")]


def jobqueue_cluster(cfg: MultiSlcConfig, kind: str) -> Any:
    """A dask-jobqueue SLURMCluster / PBSCluster from Compute.jobqueue: one worker process per job with
    ``cores`` threads (numba's too)."""
    try:
        from dask_jobqueue import PBSCluster, SLURMCluster
    except ImportError:
        raise DiapsarError("Compute.executor slurm/pbs needs dask-jobqueue (pip install dask-jobqueue)") from None
    c = cfg.compute
    cores, memory = check_job_memory(cfg, f"executor {kind}")
    logs = c.log_directory or Path(cfg.output_path) / "batch"
    logs.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {
        "cores": cores, "processes": 1, "memory": memory, "walltime": c.walltime, "queue": c.queue,
        "account": c.account, "job_extra_directives": list(c.job_directives), "log_directory": str(logs),
        "job_script_prologue": [*c.prologue, *thread_exports(cores)], "job_name": "diapsar-worker",
        "python": sys.executable,
        # one unit at a time per job (its cores are numba's threads inside the unit): tasks ask for UNIT_RESOURCE
        "worker_extra_args": ["--resources", f"{UNIT_RESOURCE}=1"],
    }
    if c.interface:
        kwargs["interface"] = c.interface
    return (SLURMCluster if kind == "slurm" else PBSCluster)(**kwargs)


UNIT_RESOURCE = "diapsar_unit"  # dask worker resource of the jobqueue workers: one unit at a time

Progress = Callable[[PairSummary, int, int], None]


def check_budget(cfg: MultiSlcConfig, n_pairs: int) -> None:
    """Bad -ram / workers / jobqueue combinations of the executor of a run of ``n_pairs`` pairs, refused before
    any work (one line)."""
    kind = executor_kind(cfg.compute, n_pairs)
    unit_ram_mb(cfg, kind)
    if kind == "scheduler":
        reach_scheduler(cfg)


def reach_scheduler(cfg: MultiSlcConfig) -> None:
    """DiapsarError (one line) unless the dask scheduler of Compute.scheduler answers within
    Compute.scheduler_timeout_s."""
    c = cfg.compute
    try:
        probe_scheduler(str(c.scheduler), c.scheduler_timeout_s)
    except (OSError, TimeoutError, ValueError) as exc:
        why = f"no answer within {c.scheduler_timeout_s:g} s" if isinstance(exc, TimeoutError) else one_line(exc)
        raise DiapsarError(f"Compute.scheduler: cannot reach the dask scheduler {c.scheduler} ({why})") from None


JOB_WAIT_LOG_S = 60.0  # a log line this often while no batch job has started


def first_result(client: Any, fut: Any, cfg: MultiSlcConfig, kind: str) -> Any:
    """The result of the first task of a dask-jobqueue run, waiting for a job to start: a log line every
    JOB_WAIT_LOG_S seconds while no worker has joined, DiapsarError (one line) when none has joined within
    Compute.jobqueue.start_timeout_s (the jobs are then cancelled by the cluster's closing)."""
    timeout = cfg.compute.start_timeout_s
    t0 = time.monotonic()
    next_log = t0 + JOB_WAIT_LOG_S
    while True:
        try:
            return fut.result(timeout=min(2.0, timeout or 2.0))
        except TimeoutError:
            pass
        if client.scheduler_info().get("workers"):  # a job runs: its worker works on the task
            return fut.result()
        waited = time.monotonic() - t0
        if timeout is not None and waited > timeout:
            raise DiapsarError(f"Compute.jobqueue.start_timeout_s: no {kind} job started within {timeout:g} s "
                               f"(queue {cfg.compute.queue or 'default'}; the jobs are cancelled): check the "
                               "queue's state and the jobs' resources, or raise the timeout")
        if time.monotonic() >= next_log:
            log.info("waiting for the %s jobs to start: none runs after %.0f s (the queue's state tells why)",
                     kind, waited)
            next_log += JOB_WAIT_LOG_S


def run_units(chain: ChainSteps, ctx: RunContext, master_image: Image, slaves: list[Image], on_pair: Progress) -> tuple[
        dict[str, float], list[PairSummary]]:
    """The master unit, then every pair unit (after it), on the executor of the configuration; returns the
    master's timings and the pairs' summaries in the order of ``slaves``."""
    cfg = ctx.cfg
    kind = executor_kind(cfg.compute, len(slaves))
    if kind == "inprocess":
        timings = master_work(chain, ctx)
        out = []
        for i, s in enumerate(slaves):
            out.append(pair_work(chain, ctx, s))
            on_pair(out[-1], i + 1, len(slaves))
        return timings, out
    jobs = kind in ("slurm", "pbs")
    threads = check_job_memory(cfg, f"executor {kind}")[0] if jobs else cfg.compute.threads_per_worker
    share = unit_ram_mb(cfg, kind)
    resources = {"resources": {UNIT_RESOURCE: 1}} if jobs else {}
    with dask_client(cfg, kind) as client:
        from distributed import as_completed

        mtask = UnitTask(chain, cfg, master_image, None, threads)
        mfut = client.submit(run_master_task, mtask, key=f"master-{master_image.date}-{time.time_ns()}",
                             pure=False, **resources)
        futures = {client.submit(run_pair_task, UnitTask(chain, cfg, master_image, s, threads, share), mfut,
                                 key=f"pair-{s.date}-{time.time_ns()}", pure=False, **resources): s
                   for s in slaves}
        try:
            timings = first_result(client, mfut, cfg, kind) if jobs else mfut.result()
        except BaseException:
            client.cancel(list(futures))
            raise
        ctx.timings.update(timings)
        log.info("%s: master unit done on the dask cluster", ctx.master.date)
        done: dict[str, PairSummary] = {}
        for k, fut in enumerate(as_completed(list(futures)), 1):
            s = futures[fut]
            try:
                summary = fut.result()
            except Exception as exc:  # noqa: BLE001 - a worker lost (killed, out of memory): that pair failed
                summary = PairSummary(layout.pair_directory(master_image.date, s.date), s.date, False,
                                      error=f"worker lost: {one_line(exc)}")
                mark_failed(ctx.out / summary.name, summary.error)
            done[s.date] = summary
            on_pair(summary, k, len(slaves))
        return timings, [done[s.date] for s in slaves]


# ------------------------------------------------------------------------------------------------ IW swaths

def swath_plan(cfg: MultiSlcConfig, n_swaths: int, kind: str, report_only: bool = False, swath_mpix: float = 0.0
               ) -> tuple[int, int, float]:
    """(processes, numba threads of each, -ram share of each in MB) for the swath runs of an IW run of
    ``n_swaths`` swaths whose pairs run on executor ``kind``: side by side (Compute.swath_processes; 0: one process
    per swath when more than one core is given and a swath image has at least AUTO_SWATH_MPIX megapixels,
    ``swath_mpix``) only in-process (a dask cluster already runs the pairs side by side) and never for the report;
    no more processes than leave MIN_UNIT_RAM_MB of -ram to each (unless Compute.ram_per_worker: then each has
    all of -ram)."""
    c = cfg.compute
    cores = cores_given()
    env = os.environ.get("NUMBA_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:  # a batch job's thread count (its scripts export it)
        cores = min(cores, int(env))
    n = 1
    if n_swaths > 1 and kind == "inprocess" and not report_only:
        auto = n_swaths if cores > 1 and swath_mpix >= AUTO_SWATH_MPIX else 1
        n = min(c.swath_processes or auto, n_swaths)
        if not c.ram_per_worker:
            n = max(1, min(n, cfg.optram_mb // MIN_UNIT_RAM_MB))
    share = float(cfg.optram_mb) if c.ram_per_worker or n == 1 else float(cfg.optram_mb) / n
    return n, max(1, cores // n), share


def _die_with_parent() -> None:
    """Linux: this process gets SIGKILL when the process that started it dies (a killed run leaves no swath
    process behind)."""
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


def _swath_worker_init(out: str, threads: int, verbose: bool) -> None:
    import numba

    _die_with_parent()
    setup_logging(out, verbose=verbose)
    pool = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]  # set by numba at import, untyped
    numba.set_num_threads(max(1, min(threads, pool)))


def run_swath_processes(body: Callable[..., dict[str, Any]], configs: dict[str, MultiSlcConfig], only: Any, n: int,
                        threads: int, share_mb: float) -> dict[str, dict[str, Any]]:
    """``body(cfg, only, share_mb)`` for each swath configuration of ``configs``, in ``n`` spawned processes of
    ``threads`` numba threads; returns each swath's result in the order of ``configs``. When a swath raises, the
    others still end (their products stay complete and resumable) and the first error (in swath order) is
    raised; a process that dies (killed, out of memory) is a DiapsarError naming its swath."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    first_cfg = next(iter(configs.values()))
    out = str(Path(first_cfg.output_path).parent)
    verbose = any(h.level <= logging.DEBUG for h in logging.getLogger("diapsar").handlers
                  if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler))
    results: dict[str, dict[str, Any]] = {}
    errors: dict[str, BaseException] = {}
    with ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_swath_worker_init, initargs=(out, threads, verbose)) as pool:
        futures = {sw: pool.submit(body, cfg, only, share_mb) for sw, cfg in configs.items()}
        for sw, fut in futures.items():
            try:
                results[sw] = fut.result()
            except BrokenProcessPool:
                errors[sw] = DiapsarError(f"swath {sw}: its process ended abnormally (killed or out of memory?); "
                                          "rerun to resume")
            except Exception as exc:  # noqa: BLE001 - raised below, after every swath ended
                errors[sw] = exc
                log.debug("swath %s failed", sw, exc_info=exc)
    for sw in configs:
        if sw in errors:
            raise errors[sw]
    return results


__all__ = ["UnitTask", "PairSummary", "PairsFailedError", "run_units", "master_work", "pair_work",
           "restore_master", "build_context", "executor_kind", "check_budget", "unit_ram_mb", "memory_mb",
           "swath_plan", "run_swath_processes"]
