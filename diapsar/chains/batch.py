"""``SAR_MultiSlc.py CONFIG --qsub|--sbatch [DIR] [--per-pair]``: ready-to-submit PBS / Slurm job scripts.

Jobs: ``master`` (the master unit: ``--only-master``), the pairs (one job array, or one job per pair, each
``--only-pair YYYYMMDD``) depending on it (``afterok``), and ``report`` (``--only-report``: run.json and the
report, failed pairs listed, non-zero exit when one failed) depending on every pair (``afterany``: it also
runs when a pair failed, to list it). ``submit.sh`` submits them in that order with the dependencies. Resources,
walltime, queue, account, extra directives and prologue lines come from ``Compute.jobqueue``; the thread
variables (OMP_NUM_THREADS, NUMBA_NUM_THREADS, ...) are set to the job's cores.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from ..config import MultiSlcConfig
from ..errors import OutputError
from ..io.atomic import atomic_path
from .executor import check_job_memory, memory_mb, thread_exports

PBS_ARRAY_MIN = 2  # PBS Pro refuses an array of one subjob


def _command(config: Path, flags: list[str], part: str) -> str:
    return " ".join(shlex.quote(a) for a in [sys.executable, "-m", "diapsar.chains.cli", str(config), *flags,
                                             *part.split()])


def _header_pbs(cfg: MultiSlcConfig, name: str, walltime: str, logs: Path, array: int = 0) -> list[str]:
    c = cfg.compute
    cores, memory = c.job_resources("--qsub")
    lines = ["#!/bin/bash", f"#PBS -N {name}", f"#PBS -l select=1:ncpus={cores}:mem={memory_mb(memory)}mb",
             f"#PBS -l walltime={walltime}", "#PBS -j oe", f"#PBS -o {logs}/"]
    if array:
        lines.append(f"#PBS -J 0-{array - 1}")
    if c.queue:
        lines.append(f"#PBS -q {c.queue}")
    if c.account:
        lines.append(f"#PBS -A {c.account}")
    lines += [f"#PBS {d}" for d in c.job_directives]
    return lines


def _header_slurm(cfg: MultiSlcConfig, name: str, walltime: str, logs: Path, array: int = 0) -> list[str]:
    c = cfg.compute
    cores, memory = c.job_resources("--sbatch")
    out = f"{logs}/%x-%A_%a.out" if array else f"{logs}/%x-%j.out"
    lines = ["#!/bin/bash", f"#SBATCH --job-name={name}", "#SBATCH --ntasks=1", f"#SBATCH --cpus-per-task={cores}",
             f"#SBATCH --mem={memory_mb(memory)}M", f"#SBATCH --time={walltime}", f"#SBATCH --output={out}"]
    if array:
        lines.append(f"#SBATCH --array=0-{array - 1}")
    if c.queue:
        lines.append(f"#SBATCH --partition={c.queue}")
    if c.account:
        lines.append(f"#SBATCH --account={c.account}")
    lines += [f"#SBATCH {d}" for d in c.job_directives]
    return lines


def _body(cfg: MultiSlcConfig, kind: str) -> list[str]:
    # PBS starts a job in the home folder: it runs in the folder it was submitted from, like a Slurm job
    cd = ['cd "${PBS_O_WORKDIR:-.}"'] if kind == "pbs" else []
    return ["set -euo pipefail", *cd, *cfg.compute.prologue, *thread_exports(cfg.compute.cores or 1)]


def write_batch(cfg: MultiSlcConfig, config: str | Path, kind: str, flags: list[str], per_pair: bool = False,
                folder: str | Path | None = None) -> Path:
    """Write the job scripts of ``kind`` (pbs, slurm) and ``submit.sh``; returns the path of submit.sh."""
    from .runtime import select_images

    sel = select_images(cfg)
    flag = "--qsub" if kind == "pbs" else "--sbatch"
    check_job_memory(cfg, flag)  # cores and memory given, -ram within a job's memory
    dates = [s.date for s in sel.slaves]
    out = Path(folder) if folder else Path(cfg.output_path) / "batch"
    logs = cfg.compute.log_directory or out / "logs"
    try:
        logs.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{flag}: cannot create the batch folder {out}: {exc.strerror or exc}") from None
    config = Path(config).resolve()
    c = cfg.compute
    ext = "pbs" if kind == "pbs" else "sbatch"
    header = _header_pbs if kind == "pbs" else _header_slurm
    if kind == "pbs" and len(dates) < PBS_ARRAY_MIN:
        per_pair = True
    scripts: dict[str, list[str]] = {}
    body = _body(cfg, kind)
    scripts[f"master.{ext}"] = [*header(cfg, "diapsar-master", c.master_walltime or c.walltime, logs), *body,
                                "exec " + _command(config, flags, "--only-master")]
    if per_pair:
        for d in dates:
            scripts[f"pair_{d}.{ext}"] = [*header(cfg, f"diapsar-pair-{d}", c.walltime, logs), *body,
                                          "exec " + _command(config, flags, f"--only-pair {d}")]
    elif dates:
        index = "PBS_ARRAY_INDEX" if kind == "pbs" else "SLURM_ARRAY_TASK_ID"
        scripts[f"pairs.{ext}"] = [*header(cfg, "diapsar-pairs", c.walltime, logs, array=len(dates)), *body,
                                   f"DATES=({' '.join(dates)})", f"DATE=${{DATES[${index}]}}",
                                   "exec " + _command(config, flags, "--only-pair") + ' "$DATE"']
    scripts[f"report.{ext}"] = [*header(cfg, "diapsar-report", "00:30:00", logs), *body,
                                "exec " + _command(config, flags, "--only-report")]
    texts = {name: "\n".join(lines) + "\n" for name, lines in scripts.items()}
    pair_scripts = [n for n in scripts if n.startswith("pair")]
    sub = ["#!/bin/bash", "# submits the master job, the pair jobs after it, the report job after them",
           "set -euo pipefail", 'cd "$(dirname "$0")"']
    if kind == "pbs":
        sub.append(f"MASTER=$(qsub master.{ext})")
        ids = []
        for i, n in enumerate(pair_scripts):
            sub.append(f"P{i}=$(qsub -W depend=afterok:$MASTER {n})")
            ids.append(f"$P{i}")
        after = ":".join(ids) or "$MASTER"
        sub.append(f"REPORT=$(qsub -W depend=afterany:{after} report.{ext})")
    else:
        sub.append(f"MASTER=$(sbatch --parsable master.{ext}); MASTER=${{MASTER%%;*}}")
        ids = []
        for i, n in enumerate(pair_scripts):
            sub.append(f"P{i}=$(sbatch --parsable --kill-on-invalid-dep=yes --dependency=afterok:$MASTER {n}); "
                       f"P{i}=${{P{i}%%;*}}")
            ids.append(f"$P{i}")
        after = ":".join(ids) or "$MASTER"
        sub.append(f"REPORT=$(sbatch --parsable --dependency=afterany:{after} report.{ext}); REPORT=${{REPORT%%;*}}")
    sub.append('echo "master job $MASTER, report job $REPORT"')
    texts["submit.sh"] = "\n".join(sub) + "\n"
    for name, text in texts.items():  # each under a temporary name, renamed when written
        try:
            with atomic_path(out / name) as tmp:
                tmp.write_text(text, encoding="utf-8")
                tmp.chmod(0o755)
        except OutputError as exc:  # (the folder is not writable)
            raise OutputError(f"{flag}: {exc}") from None
        except OSError as exc:
            raise OutputError(f"{flag}: cannot write {out / name}: {exc.strerror or exc}") from None
    return out / "submit.sh"
