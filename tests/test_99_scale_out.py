"""Scale-out of SAR_MultiSlc: a small simulated StripMap stack (4 dates: 3 pairs) processed in-process, on a local
dask cluster (2 workers x 1 thread), on an existing scheduler, after kill -9 at several points, with a corrupt
slave, on a real Slurm on localhost (dask-jobqueue SLURMCluster and the --sbatch scripts), as PBS job scripts run
the way PBS would (also on a small IW stack of two swaths), and bad scale-out input.

The reference run uses numba with one thread, like the workers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from chain_cli import one_line_error, run_cli

REPO = Path(__file__).resolve().parents[1]
SIZE = (300, 240)

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


def env(**extra: str) -> dict[str, str]:
    return dict(os.environ, PYTHONWARNINGS="ignore", PYTHONPATH=str(REPO), NUMBA_NUM_THREADS="1", **extra)


def cli(*args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "SAR_MultiSlc.py"), *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=timeout, env=env())


def write_config(path: Path, lake: Path, out: Path, compute: dict | None = None) -> Path:
    from diapsar.chains.demo import demo_config

    raw = demo_config(lake, out, ram_mb=200)
    raw["DIn_SAR"]["parameter"].update(GridStep_range=30, GridStep_azimut=30)
    if compute:
        raw["Compute"] = compute
    path.write_text(json.dumps(raw, indent=1))
    return path


def products(out: Path) -> dict[str, bytes]:
    """Every raster product of a run, by relative path."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.tif"))}


def assert_same(out: Path, ref: dict[str, bytes], skip: str = "") -> None:
    got = products(out)
    want = {k: v for k, v in ref.items() if not (skip and k.startswith(skip))}
    assert sorted(k for k in got if not (skip and k.startswith(skip))) == sorted(want)
    for k, v in want.items():
        assert got[k] == v, f"{k} differs from the in-process run"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from diapsar.simulate.api import simulate_stack

    root = tmp_path_factory.mktemp("scale")
    simulate_stack(root / "input", mode="sm", dates=4, size=SIZE, seed=3)
    cfg = write_config(root / "ref.json", root / "input", root / "ref")
    proc = cli(cfg)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pairs = json.loads((root / "ref" / "run.json").read_text())["pairs"]
    assert len(pairs) == 3
    return {"root": root, "lake": root / "input", "ref": products(root / "ref"), "pairs": pairs}


def test_local_dask_cluster_gives_identical_products(stack, tmp_path):
    out = tmp_path / "out"
    proc = cli(write_config(tmp_path / "c.json", stack["lake"], out), "--workers", "2", "--threads-per-worker", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "local dask cluster: 2 worker(s) x 1 thread(s); -ram 200 MB: 100 MB per pair" in proc.stderr
    assert_same(out, stack["ref"])
    log = (out / "info.log").read_text()
    for p in stack["pairs"]:  # per-step timings of every pair in the one info.log, whichever worker ran it
        assert f"pair {p} step timings (s): topographic_phase" in log
        assert re.search(rf"\[\d/3\] pair {p} done \((?!driver)", log), "pair run by a dask worker"
        assert f"{p.split('_m_')[1][:8]}: -ram share of this pair 100 MB (of 200 MB)" in log
    assert json.loads((out / "run.json").read_text())["pairs"] == stack["pairs"]


# kill -9 at a precise point of a real run: this runner (test side, not the product) wraps the raster block writer
# and the step records of the process it starts, and sends the process SIGKILL itself at the chosen point; the
# kill is a real SIGKILL (no clean-up runs, the temporary being written stays on disk half-made).
KILL_RUNNER = r"""
import os, runpy, signal, sys
folder, what, name = sys.argv[1:4]
sys.argv = [sys.argv[4], *sys.argv[5:]]
if what == "block":  # after the first row block of `name` is written into its temporary, before the rename
    from diapsar.io import raster
    write = raster.BlockWriter.write
    def killing_write(self, row0, data):
        write(self, row0, data)
        path = str(self.ds.name)
        if os.path.basename(os.path.dirname(path)).startswith(folder) and \
                os.path.basename(path).startswith("." + name + "."):
            os.kill(os.getpid(), signal.SIGKILL)
    raster.BlockWriter.write = killing_write
else:  # right after step `name` of `folder` is recorded complete
    from diapsar.io import records
    record = records.Steps.record
    def killing_record(self, step, *a, **k):
        record(self, step, *a, **k)
        if step == name and self.folder.name.startswith(folder):
            os.kill(os.getpid(), signal.SIGKILL)
    records.Steps.record = killing_record
runpy.run_path(sys.argv[0], run_name="__main__")
"""

def recorded_files(folder: Path) -> list[str]:
    """The outputs of the steps recorded complete in ``folder``'s .steps.json."""
    steps = folder / ".steps.json"
    return [f for r in json.loads(steps.read_text()).values() for f in r["files"]] if steps.exists() else []


# (folder: master or pair index, "block" (during the writing of a product) or "record" (after a step), name)
KILL_POINTS = {
    "master_step": ("master", "block", "dem_projection.tif"),
    "pair_after_doppler0": (0, "record", "multilook_doppler0"),
    "middle_of_pair": (1, "block", "interferogram.tif"),
    "during_ortho": (2, "block", "interferogram_ortho.tif"),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_kill_9_then_rerun_gives_identical_products(stack, tmp_path, point):
    where, what, name = KILL_POINTS[point]
    pairs = stack["pairs"]
    folder = next((stack["root"] / "ref").glob("*_master_directory")).name if where == "master" else pairs[where]
    out = tmp_path / "out"
    cfg = write_config(tmp_path / "c.json", stack["lake"], out)  # ortho and filtering on (demo configuration)
    killed = subprocess.run([sys.executable, "-c", KILL_RUNNER, folder, what, name, str(REPO / "SAR_MultiSlc.py"),
                             str(cfg)], cwd=REPO, env=env(), capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    # nothing half-made is presented as complete: no run.json, no pair.json in the killed pair or after it,
    # the product being written exists only as its temporary, every raster under its final name is complete
    assert not (out / "run.json").exists()
    kfolder = out / folder
    if what == "block":
        assert not (kfolder / name).exists() and list(kfolder.glob(f".{name}.*.part")), "not killed mid-write"
        assert name not in recorded_files(kfolder)
    else:
        assert name in json.loads((kfolder / ".steps.json").read_text())
    later = pairs if where == "master" else pairs[where:]
    assert not any((out / p / "pair.json").exists() for p in later)
    for rel, data in products(out).items():
        if rel in stack["ref"]:
            assert data == stack["ref"][rel], f"{rel} under its final name after the kill but not complete"
        else:  # an intermediate (removed at the end of a pair, clean mode): recorded by its step
            assert (out / rel).name in recorded_files((out / rel).parent), f"{rel} not recorded as complete"
    rerun = cli(cfg)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    if where != "master":
        assert "master DEM projection already done" in rerun.stderr and "cartesian mean already done" in rerun.stderr
    if where == 0:
        assert f"{pairs[0].split('_m_')[1][:8]}: multilook and Doppler0 already done" in rerun.stderr
    if where == 2:
        assert f"[2/3] pair {pairs[1]} already complete" in rerun.stderr
        assert f"{pairs[2].split('_m_')[1][:8]}: filtering already done" in rerun.stderr
    assert_same(out, stack["ref"])
    assert json.loads((out / "run.json").read_text())["pairs"] == pairs
    left = [p for p in out.rglob("*") if p.name.endswith((".part", ".part.aux.xml", ".tmp"))]
    assert not left, f"temporaries of the killed run left behind: {left}"


def test_batch_job_killed_on_a_local_cluster_then_rerun_in_process(stack, tmp_path):
    """A job on a local dask cluster killed whole (SIGKILL to its process group, as a batch system ends a job at
    its walltime) while its workers are inside the pairs; the rerun, in-process this time, resumes from what the
    workers recorded and gives the reference products; no process of the killed job is left."""
    out = tmp_path / "out"
    cfg = write_config(tmp_path / "c.json", stack["lake"], out)
    proc = subprocess.Popen([sys.executable, str(REPO / "SAR_MultiSlc.py"), str(cfg), "--workers", "2"], cwd=REPO,
                            env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    t0 = time.time()
    while proc.poll() is None and time.time() - t0 < 240 and not any(
            "topographic_phase" in p.read_text() for p in out.glob("*_m_*_s/.steps.json")):
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    t0 = time.time()
    while time.time() - t0 < 20:  # nothing of the job is left (its dask workers, once reaped by init)
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        pytest.fail("processes of the killed job are left")
    assert not (out / "run.json").exists()
    assert not all((out / p / "pair.json").exists() for p in stack["pairs"])
    rerun = cli(cfg)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert re.search(r"\d{8}: topographic_phase already done", rerun.stderr), "nothing resumed"
    assert_same(out, stack["ref"])
    assert not [p for p in out.rglob("*") if p.name.endswith((".part", ".part.aux.xml", ".tmp"))]


def test_one_corrupt_slave_fails_alone(stack, tmp_path):
    lake = tmp_path / "lake"
    lake.mkdir()
    safes = sorted(p for p in stack["lake"].iterdir() if p.suffix == ".SAFE")
    assert len(safes) == 4
    for s in safes[:-1]:
        (lake / s.name).symlink_to(s)
    broken = lake / safes[-1].name
    shutil.copytree(safes[-1], broken)
    tif = next((broken / "measurement").iterdir())
    tif.write_bytes(tif.read_bytes()[: tif.stat().st_size // 2])
    (lake / "dem").symlink_to(stack["lake"] / "dem")
    out = tmp_path / "out"
    proc = cli(write_config(tmp_path / "c.json", lake, out))
    assert proc.returncode == 4, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    bad = stack["pairs"][-1]
    assert last.startswith("SAR_MultiSlc.py: error: 1 of 3 pair(s) failed") and bad in last, last
    assert "Traceback" not in proc.stderr
    assert not (out / bad / "pair.json").exists(), "a failed pair is not presented as complete"
    assert "unreadable measurement" in json.loads((out / bad / "pair_failed.json").read_text())["reason"]
    run = json.loads((out / "run.json").read_text())
    assert run["pairs"] == stack["pairs"][:-1] and list(run["failed_pairs"]) == [bad]
    assert_same(out, stack["ref"], skip=bad)


def test_pair_failing_in_a_worker_does_not_stop_the_others(stack, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    bad = stack["pairs"][1]
    (out / bad).write_text("not a folder")  # the pair's folder cannot be made: that pair fails in its worker
    proc = cli(write_config(tmp_path / "c.json", stack["lake"], out, {"executor": "local", "workers": 2}))
    assert proc.returncode == 4, proc.stderr[-3000:]
    assert bad in proc.stderr.strip().splitlines()[-1]
    run = json.loads((out / "run.json").read_text())
    assert list(run["failed_pairs"]) == [bad] and bad not in run["pairs"] and len(run["pairs"]) == 2
    assert_same(out, stack["ref"], skip=bad)


def _submit_lines(submit: Path) -> list[str]:
    return [ln for ln in submit.read_text().splitlines() if ln.startswith(("MASTER=", "P", "REPORT="))]


def test_qsub_and_sbatch_scripts(stack, tmp_path):
    cfg = write_config(tmp_path / "c.json", stack["lake"], tmp_path / "out",
                       {"jobqueue": {"cores": 3, "memory": "6GB", "walltime": "02:00:00", "queue": "sar",
                                     "prologue": ["module load gdal"], "job_directives": ["-l place=scatter"]}})
    dates = [p.split("_m_")[1][:8] for p in stack["pairs"]]
    # PBS, job array
    proc = cli(cfg, "--qsub", tmp_path / "pbs", "-ml", "3", "3")
    assert proc.returncode == 0, proc.stderr
    d = tmp_path / "pbs"
    master, pairs, report = (d / n for n in ("master.pbs", "pairs.pbs", "report.pbs"))
    m = master.read_text()
    assert "#PBS -l select=1:ncpus=3:mem=6144mb" in m and "#PBS -l walltime=02:00:00" in m and "#PBS -q sar" in m
    assert "#PBS -l place=scatter" in m and "module load gdal" in m
    assert "export OMP_NUM_THREADS=3" in m and "export NUMBA_NUM_THREADS=3" in m
    assert m.strip().endswith("--only-master") and "-ml 3 3" in m and "--qsub" not in m
    p = pairs.read_text()
    assert f"#PBS -J 0-{len(dates) - 1}" in p and f"DATES=({' '.join(dates)})" in p
    assert "${DATES[$PBS_ARRAY_INDEX]}" in p and '--only-pair "$DATE"' in p
    assert report.read_text().strip().endswith("--only-report")
    sub = _submit_lines(d / "submit.sh")
    assert sub[0] == "MASTER=$(qsub master.pbs)"
    assert sub[1] == "P0=$(qsub -W depend=afterok:$MASTER pairs.pbs)"
    assert sub[2] == "REPORT=$(qsub -W depend=afterany:$P0 report.pbs)"
    # Slurm, one job per pair
    proc = cli(cfg, "--sbatch", tmp_path / "slurm", "--per-pair")
    assert proc.returncode == 0, proc.stderr
    d = tmp_path / "slurm"
    m = (d / "master.sbatch").read_text()
    assert "#SBATCH --cpus-per-task=3" in m and "#SBATCH --mem=6144M" in m and "#SBATCH --partition=sar" in m
    assert "#SBATCH --time=02:00:00" in m and "export NUMBA_NUM_THREADS=3" in m
    for date in dates:
        assert (d / f"pair_{date}.sbatch").read_text().strip().endswith(f"--only-pair {date}")
    sub = _submit_lines(d / "submit.sh")
    assert sub[0].startswith("MASTER=$(sbatch --parsable master.sbatch)")
    ids = []
    for i, date in enumerate(dates):
        assert sub[1 + i].startswith(f"P{i}=$(sbatch --parsable --kill-on-invalid-dep=yes "
                                     f"--dependency=afterok:$MASTER pair_{date}.sbatch)")
        ids.append(f"$P{i}")
    assert sub[-1].startswith(f"REPORT=$(sbatch --parsable --dependency=afterany:{':'.join(ids)} report.sbatch)")
    # a bad flag value: one line, non-zero
    bad = cli(cfg, "--workers", "-1")
    assert bad.returncode != 0 and bad.stderr.strip().count("\n") == 0 and "--workers" in bad.stderr


QSUB_LINE = re.compile(r"^(\w+)=\$\(qsub (?:-W depend=(afterok|afterany):(\S+) )?(\S+)\)$")


def run_pbs_jobs(batch: Path, home: Path) -> list[tuple[str, str, int]]:
    """Run the jobs of ``batch/submit.sh`` the way PBS Pro would, without PBS: in submit.sh's order, each job
    script under bash from the home folder with the variables PBS sets (PBS_JOBID, PBS_JOBNAME, PBS_O_WORKDIR
    (the folder qsub ran in: submit.sh's), PBS_ENVIRONMENT, PBS_QUEUE, PBS_O_HOME; an array job's subjobs
    one after the other, each with PBS_ARRAY_INDEX and PBS_ARRAY_ID from its ``#PBS -J``); a job depending
    ``afterok`` on a failed job is not run. Returns (script, array index, exit status) of every job run."""
    status: dict[str, bool] = {}
    ran = []
    for n, line in enumerate(_submit_lines(batch / "submit.sh"), 1):
        m = QSUB_LINE.match(line)
        assert m, f"submit.sh line not understood: {line}"
        var, dep, after, script = m.groups()
        deps = [d.lstrip("$") for d in after.split(":")] if after else []
        if dep == "afterok" and not all(status[d] for d in deps):
            status[var] = False
            continue
        text = (batch / script).read_text()
        name = re.search(r"^#PBS -N (\S+)$", text, re.M).group(1)
        queue = re.search(r"^#PBS -q (\S+)$", text, re.M)
        span = re.search(r"^#PBS -J (\d+)-(\d+)$", text, re.M)
        jobid = f"{1000 + n}{'[]' if span else ''}.pbs-server"
        base = {k: v for k, v in env().items() if not k.startswith("PBS_")}
        base.update(HOME=str(home), PBS_O_HOME=str(home), PBS_O_WORKDIR=str(batch), PBS_JOBNAME=name,
                    PBS_ENVIRONMENT="PBS_BATCH", PBS_QUEUE=queue.group(1) if queue else "workq",
                    PBS_O_QUEUE=queue.group(1) if queue else "workq", PBS_JOBDIR=str(home))
        ok = True
        for index in range(int(span.group(1)), int(span.group(2)) + 1) if span else [None]:
            e = dict(base, PBS_JOBID=jobid)
            if index is not None:
                e.update(PBS_ARRAY_INDEX=str(index), PBS_ARRAY_ID=jobid, PBS_JOBID=jobid.replace("[]", f"[{index}]"))
            job = subprocess.run(["bash", str(batch / script)], cwd=home, env=e, capture_output=True, text=True,
                                 timeout=300)
            assert "Traceback" not in job.stderr, job.stderr[-2000:]
            ran.append((script, "" if index is None else str(index), job.returncode))
            ok = ok and job.returncode == 0
        status[var] = ok
    return ran


@pytest.fixture(scope="module")
def iw_two_swaths(tmp_path_factory):
    """A small IW stack of two swaths (IW1 + IW2 side by side, 2 bursts, 2 dates) and its in-process run, the two
    swaths in two processes (Compute.swath_processes 2; the runs that compare with it run them one after the
    other: the swath processes change no byte)."""
    from diapsar.simulate.api import simulate_stack

    root = tmp_path_factory.mktemp("scale_iw")
    simulate_stack(root / "input", mode="iw", dates=2, size=(0, 300), bursts=2, lines_per_burst=200,
                   beam="IW1,IW2", seed=5, n_targets=0, coherence=(0.85, 0.98), snr_db=25.0)
    cfg = iw_config(root / "ref.json", root / "input", root / "ref", swath_processes=2)
    proc = cli(cfg)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "side by side: 2 processes" in (root / "ref" / "info.log").read_text()
    run = json.loads((root / "ref" / "run.json").read_text())
    assert run["swaths"] == ["IW1", "IW2"] and len(run["pairs"]) == 1
    return {"root": root, "lake": root / "input", "ref": products(root / "ref"), "pairs": run["pairs"]}


def iw_config(path: Path, lake: Path, out: Path, swath_processes: int = 0) -> Path:
    raw = {"Global": {"in": {"Input_Path": str(lake), "DEM_Path": str(lake / "dem" / "dem.tif"), "Mode": "IW",
                             "Polarisation": "VV"},
                      "out": {"Output_Path": str(out)}, "parameter": {"clean": "yes", "optram": 300}},
           "Pre_Processing": {"parameter": {"ML_ran": 4, "ML_azi": 2}},
           "DIn_SAR": {"parameter": {"GridStep_range": 32, "GridStep_azimut": 32, "ESD_iter": 1}},
           "Post_Processing": {"parameter": {"Activate_Ortho": "yes", "Activate_Filtering": "yes"}},
           "Compute": {"jobqueue": {"cores": 1, "memory": "1GB", "queue": "sar"}, "swath_processes": swath_processes}}
    path.write_text(json.dumps(raw, indent=1))
    return path


def test_swath_processes_killed_with_the_run_then_rerun(iw_two_swaths, tmp_path):
    """The run's process killed (SIGKILL, alone) while its two swath processes work: they end with it (none is
    left writing), and the rerun completes with the products of the uninterrupted run."""
    import psutil

    out = tmp_path / "out"
    cfg = iw_config(tmp_path / "c.json", iw_two_swaths["lake"], out, swath_processes=2)
    proc = subprocess.Popen([sys.executable, str(REPO / "SAR_MultiSlc.py"), str(cfg)], cwd=REPO, env=env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 120
    workers: list = []
    while time.monotonic() < deadline and not list(out.glob("IW*/*_master_directory")):
        workers = parent.children(recursive=True) or workers
        time.sleep(0.05)
    workers = parent.children(recursive=True)
    assert len([w for w in workers if "python" in w.name().lower()]) >= 2, "no swath processes found"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    gone, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive, f"swath processes left running after the run was killed: {alive}"
    assert not (out / "run.json").exists()
    done = cli(cfg)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_same(out, iw_two_swaths["ref"])


@pytest.mark.parametrize("kind", ["sm_array", "iw_two_swaths_per_pair"])
def test_qsub_scripts_run_under_bash_with_the_pbs_variables(request, tmp_path, kind):
    """The --qsub jobs run as PBS would run them give the in-process products: a StripMap stack as a job array,
    and an IW stack of two swaths, one job per pair (each swath's pair, then the merge; the report job merges
    the master)."""
    data = request.getfixturevalue("stack" if kind == "sm_array" else "iw_two_swaths")
    out, home = tmp_path / "out", tmp_path / "home"
    home.mkdir()
    if kind == "sm_array":
        cfg = write_config(tmp_path / "c.json", data["lake"], out,
                           {"jobqueue": {"cores": 1, "memory": "1GB", "queue": "sar"}})
        proc = cli(cfg, "--qsub", tmp_path / "pbs")
    else:
        proc = cli(iw_config(tmp_path / "c.json", data["lake"], out), "--qsub", tmp_path / "pbs", "--per-pair")
    assert proc.returncode == 0, proc.stderr
    ran = run_pbs_jobs(tmp_path / "pbs", home)
    dates = [p.split("_m_")[1][:8] for p in data["pairs"]]
    pair_jobs = ([("pairs.pbs", str(i), 0) for i in range(len(dates))] if kind == "sm_array"
                 else [(f"pair_{d}.pbs", "", 0) for d in dates])
    assert ran == [("master.pbs", "", 0), *pair_jobs, ("report.pbs", "", 0)]
    run = json.loads((out / "run.json").read_text())
    assert run["pairs"] == data["pairs"] and "failed_pairs" not in run
    if kind != "sm_array":
        assert run["swaths"] == ["IW1", "IW2"]
        assert sorted(json.loads((out / data["pairs"][0] / "pair.json").read_text())["swaths"]) == ["IW1", "IW2"]
    assert_same(out, data["ref"])  # the merged products and every swath's
    # (matplotlib's cache and config folders aside)
    assert not [p for p in home.iterdir() if p.name not in (".cache", ".config")], "products written in HOME"


# ------------------------------------------------------------------------------------------------ real Slurm

SLURM_CONF = """\
ClusterName=diapsar
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={d}/munge.socket
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
SlurmctldPort={p1}
SlurmdPort={p2}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=8000 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A single-node Slurm on localhost (slurmctld, slurmd, munged started here, stopped by PID)."""
    need = ["munged", "slurmctld", "slurmd", "sbatch", "sinfo"]
    missing = [n for n in need if shutil.which(n) is None and not Path(f"/usr/sbin/{n}").exists()]
    if missing or not Path("/etc/munge/munge.key").exists() or os.geteuid() != 0:
        pytest.skip(f"real Slurm unavailable: {', '.join(missing) or 'munge key or root missing'} "
                    "(apt-get install slurm-wlm munge, as root)")
    d = Path(f"/tmp/diapsar-slurm-{os.getpid()}")  # short: the munge socket path has a length limit
    shutil.rmtree(d, ignore_errors=True)
    for sub in ("state", "spool"):
        (d / sub).mkdir(parents=True)
    key = d / "munge.key"
    shutil.copy("/etc/munge/munge.key", key)
    key.chmod(0o600)
    host = socket.gethostname()
    conf = d / "slurm.conf"
    conf.write_text(SLURM_CONF.format(host=host, d=d, p1=_free_port(), p2=_free_port(), cpus=os.cpu_count() or 1))
    e = dict(os.environ, SLURM_CONF=str(conf))
    sbin = lambda n: shutil.which(n) or f"/usr/sbin/{n}"  # noqa: E731
    subprocess.run([sbin("munged"), "--force", f"--key-file={key}", f"--socket={d}/munge.socket",
                    f"--pid-file={d}/munged.pid", f"--log-file={d}/munged.log", f"--seed-file={d}/munge.seed"],
                   check=True, env=e, timeout=30)
    subprocess.run([sbin("slurmctld"), "-f", str(conf)], check=True, env=e, timeout=30)
    subprocess.run([sbin("slurmd"), "-f", str(conf)], check=True, env=e, timeout=30)
    try:
        t0 = time.time()
        while time.time() - t0 < 30:
            r = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env=e)
            if r.returncode == 0 and r.stdout.strip() in ("idle", "mixed"):
                break
            time.sleep(0.5)
        else:
            pytest.skip(f"real Slurm did not start: {(d / 'slurmctld.log').read_text()[-500:]}")
        yield {"env": e, "dir": d}
    finally:
        for pidfile in ("slurmd.pid", "slurmctld.pid", "munged.pid"):
            try:
                os.kill(int((d / pidfile).read_text().split()[0]), signal.SIGTERM)
            except (OSError, ValueError):
                pass
        time.sleep(1)
        shutil.rmtree(d, ignore_errors=True)


def test_slurm_cluster_on_localhost_gives_identical_products(stack, slurm, tmp_path):
    out = tmp_path / "out"
    cfg = write_config(tmp_path / "c.json", stack["lake"], out,
                       {"executor": "slurm", "jobqueue": {"cores": 1, "memory": "2GB", "walltime": "00:10:00",
                                                          "queue": "debug", "interface": "lo", "maximum_jobs": 2,
                                                          "prologue": [f"export PYTHONPATH={REPO}"]}})
    proc = subprocess.run([sys.executable, str(REPO / "SAR_MultiSlc.py"), str(cfg)], capture_output=True, text=True,
                          cwd=REPO, timeout=300, env={**env(), **slurm["env"]})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "slurm dask-jobqueue cluster: adaptive 0..2 job(s)" in proc.stderr
    assert list((out / "batch").glob("*.out")) or list((out / "batch").glob("*.err")), "no Slurm job ran"
    assert_same(out, stack["ref"])


def test_slurm_jobs_that_never_start(stack, slurm, tmp_path):
    """Slurm jobs held in the queue (--begin one hour later): with Compute.jobqueue.start_timeout_s the run stops
    with one line once it has passed, and leaves no job in the queue."""
    out = tmp_path / "out"
    cfg = write_config(tmp_path / "c.json", stack["lake"], out,
                       {"executor": "slurm", "jobqueue": {"cores": 1, "memory": "2GB", "walltime": "00:10:00",
                                                          "queue": "debug", "interface": "lo", "maximum_jobs": 1,
                                                          "job_directives": ["--begin=now+3600"],
                                                          "start_timeout_s": 8,
                                                          "prologue": [f"export PYTHONPATH={REPO}"]}})
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, str(REPO / "SAR_MultiSlc.py"), str(cfg)], capture_output=True, text=True,
                          cwd=REPO, timeout=300, env={**env(), **slurm["env"]})
    waited = time.monotonic() - t0
    print(f"\nheld jobs: stopped after {waited:.1f} s")
    one_line_error(proc, "start_timeout_s", "no slurm job started within 8 s")
    assert waited < 120
    queue = subprocess.run(["squeue", "-h", "-o", "%i %T"], capture_output=True, text=True, env=slurm["env"])
    for _ in range(20):
        if not queue.stdout.strip():
            break
        time.sleep(0.5)
        queue = subprocess.run(["squeue", "-h", "-o", "%i %T"], capture_output=True, text=True, env=slurm["env"])
    assert queue.returncode == 0 and not queue.stdout.strip(), f"jobs left in the queue: {queue.stdout}"


def test_existing_dask_scheduler(stack, tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, env={"NUMBA_NUM_THREADS": "1"}) as cluster:
        out = tmp_path / "out"
        proc = cli(write_config(tmp_path / "c.json", stack["lake"], out), "--scheduler", cluster.scheduler_address)
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert_same(out, stack["ref"])


def test_scheduler_that_does_not_answer(stack, tmp_path):
    """Nobody listening, and a host that accepts the connection but never answers (the dask Client alone would
    wait forever in its handshake): one line within Compute.scheduler_timeout_s, nothing created (both run side
    by side)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        runs = []
        for k, address in enumerate((f"tcp://127.0.0.1:{_free_port()}", f"tcp://127.0.0.1:{silent.getsockname()[1]}")):
            out = tmp_path / f"out{k}"
            cfg = write_config(tmp_path / f"{k}.json", stack["lake"], out, {"scheduler_timeout_s": 3})
            cmd = [sys.executable, str(REPO / "SAR_MultiSlc.py"), str(cfg), "--scheduler", address]
            runs.append((address, out, subprocess.Popen(cmd, cwd=REPO, env=env(), stdout=subprocess.PIPE,
                                                        stderr=subprocess.PIPE, text=True)))
        t0 = time.time()
        for (address, out, proc), why in zip(runs, ("", "(no answer within 3 s)")):
            stdout, stderr = proc.communicate(timeout=90)
            assert time.time() - t0 < 45, "not bounded"
            one_line_error(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr),
                           "cannot reach the dask scheduler", address, why)
            assert not out.exists(), "nothing is made before the scheduler answers"


# ------------------------------------------------------------------------------------------------ bad input

@pytest.mark.parametrize("compute, flags, words", [
    ({"executor": "slurm", "jobqueue": {"queue": "debug"}}, [], ["executor slurm needs cores and memory"]),
    ({"executor": "pbs", "jobqueue": {"cores": 4}}, [], ["executor pbs needs memory"]),
    ({"jobqueue": {"memory": "4GB"}}, ["--sbatch"], ["--sbatch needs cores"]),
    ({"jobqueue": {"cores": 2, "memory": "1GB"}}, ["--qsub", "-ram", "2000"],
     ["-ram 2000 MB", "more than the memory of each job", "1GB"]),
    ({}, ["--workers", "4", "-ram", "200"], ["--workers 4", "50 MB per pair", "below the 64 MB"]),
], ids=["slurm_without_cores_memory", "pbs_without_memory", "sbatch_without_cores", "ram_over_job_memory",
        "too_many_workers_for_ram"])
def test_bad_compute_input_is_one_line(stack, tmp_path, compute, flags, words):
    out = tmp_path / "out"
    bad = run_cli(write_config(tmp_path / "c.json", stack["lake"], out, compute), *flags, timeout=60)
    one_line_error(bad, *words)
    assert not out.exists(), "nothing is made before the check"


def test_batch_folder_that_cannot_be_written(stack, tmp_path):
    cfg = write_config(tmp_path / "c.json", stack["lake"], tmp_path / "out", {"jobqueue": {"cores": 1,
                                                                                          "memory": "1GB"}})
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    # a folder whose parent is a regular file (cannot be made, even by root)
    for flag in ("--qsub", "--sbatch"):
        one_line_error(run_cli(cfg, flag, blocker / "batch", timeout=60), flag, "cannot create the batch folder",
                       str(blocker / "batch"))
    # an existing batch folder without write permission (root writes anyway: only checked for another user)
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        (ro / "logs").mkdir()
        ro.chmod(0o500)
        try:
            one_line_error(run_cli(cfg, "--qsub", ro, timeout=60), "--qsub", str(ro))
        finally:
            ro.chmod(0o700)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------------ -ram share

def test_ram_share_of_a_worker_sets_its_block_sizes(stack, tmp_path, monkeypatch):
    """A pair unit given a share of -ram (a local cluster's worker: -ram / workers) sizes its row blocks from
    that share: every block size of the pair steps is computed from the share, the blocks are smaller, and the
    products are still byte-identical to the reference."""
    import logging

    import numpy as np

    from diapsar.chains import executor, pair_steps
    from diapsar.chains.context import gdal_cache_mb
    from diapsar.chains.multislc import CHAIN
    from diapsar.chains.runtime import select_images
    from diapsar.config import load_config

    real = pair_steps.rows_per_block
    calls: list[tuple[float, int]] = []

    def spy(n_cols, bytes_per_pixel, ram_mb, *a, **k):
        rows = real(n_cols, bytes_per_pixel, ram_mb, *a, **k)
        calls.append((ram_mb, rows))
        return rows

    monkeypatch.setattr(pair_steps, "rows_per_block", spy)
    ref = stack["root"] / "ref"
    master_dir = next(ref.glob("*_master_directory")).name
    with np.load(ref / master_dir / ".scene_dem.npz") as z:
        dem_mb = z["heights_m"].nbytes / 2**20
    handlers = list(logging.getLogger("diapsar").handlers)
    seen = {}
    try:
        for share in (None, 100.0):  # all of -ram 200 (in-process), the share of one of 2 workers
            out = tmp_path / f"share{share}"
            shutil.copytree(ref / master_dir, out / master_dir)  # the master unit's products
            cfg = load_config(write_config(tmp_path / f"c{share}.json", stack["lake"], out))
            assert cfg.optram_mb == 200
            sel = select_images(cfg)
            calls.clear()
            summary = executor.run_pair_task(executor.UnitTask(CHAIN, cfg, sel.master, sel.slaves[0], 1, share))
            assert summary.ok, summary.error
            total = share or 200.0
            want = max(total - gdal_cache_mb(total) - dem_mb, total / 4)
            assert len(calls) >= 4 and {round(r, 6) for r, _ in calls} == {round(want, 6)}
            seen[share] = [rows for _, rows in calls]
            pair = stack["pairs"][0]
            assert products(out / pair) == {k.split("/", 1)[1]: v for k, v in stack["ref"].items()
                                            if k.startswith(pair + "/")}
    finally:
        for h in logging.getLogger("diapsar").handlers:
            if h not in handlers:
                logging.getLogger("diapsar").removeHandler(h)
                h.close()
    assert len(seen[None]) == len(seen[100.0])
    assert all(a <= b for a, b in zip(seen[100.0], seen[None])) and seen[100.0] != seen[None]


def test_sbatch_scripts_submitted_to_a_real_slurm(stack, slurm, tmp_path):
    """submit.sh of --sbatch (master job, the pairs as a job array after it, the report job) submitted to the real
    Slurm on localhost: the products are those of the in-process run."""
    out = tmp_path / "out"
    cfg = write_config(tmp_path / "c.json", stack["lake"], out,
                       {"jobqueue": {"cores": 1, "memory": "1GB", "walltime": "00:10:00", "queue": "debug",
                                     "prologue": [f"export PYTHONPATH={REPO}"]}})
    e = {**env(), **slurm["env"]}
    proc = subprocess.run([sys.executable, str(REPO / "SAR_MultiSlc.py"), str(cfg), "--sbatch", tmp_path / "jobs"],
                          capture_output=True, text=True, cwd=REPO, timeout=120, env=e)
    assert proc.returncode == 0, proc.stderr
    sub = subprocess.run(["bash", str(tmp_path / "jobs" / "submit.sh")], capture_output=True, text=True,
                         timeout=60, env=e)
    assert sub.returncode == 0, sub.stderr
    ids = re.fullmatch(r"master job (\d+), report job (\d+)", sub.stdout.strip())
    assert ids, sub.stdout
    t0 = time.time()
    while time.time() - t0 < 300:
        q = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, env=e)
        if q.returncode == 0 and not q.stdout.strip():
            break
        time.sleep(1)
    else:
        pytest.fail("the Slurm jobs did not end within 300 s")
    logs = sorted((tmp_path / "jobs" / "logs").glob("*.out"))
    assert len(logs) == 2 + len(stack["pairs"]), [p.name for p in logs]  # master, each array task, report
    run = json.loads((out / "run.json").read_text())
    assert run["pairs"] == stack["pairs"] and "failed_pairs" not in run, [p.read_text()[-500:] for p in logs]
    assert_same(out, stack["ref"])
