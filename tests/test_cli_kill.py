"""SIGTERM at random moments: exit 143, never a half file under the final name, resume gives the same result.

Issue 18 ("kill tests at random moments for simulate, population and trial"; the trial's
SIGKILL-and-resume test is in test_cli_trial.py).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers import TWO_NODE, write

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def _start(args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen([sys.executable, "-m", "fitts.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".part") or p.name.startswith(".r.nc"))


@pytest.mark.slow
def test_simulate_killed_at_random_moments_leaves_no_partial_file(tmp_path: Path) -> None:
    write(tmp_path, "two.yaml", TWO_NODE)
    rng = random.Random(18)
    codes = []
    for k, moment in enumerate(sorted(rng.uniform(0.3, 12.0) for _ in range(3))):
        out = tmp_path / f"r{k}.nc"
        proc = _start(["simulate", "two.yaml", "--out", out.name, "--patients", "3000", "--days", "200",
                       "--dt", "0.01", "--backend", "numpy"], tmp_path)
        time.sleep(moment)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
        codes.append(proc.returncode)
        assert b"Traceback" not in stderr, stderr.decode()
        if proc.returncode == 0:  # finished before the signal: the file is whole
            import xarray as xr

            with xr.open_dataset(out, engine="h5netcdf") as ds:
                assert ds.sizes["patient"] == 3000
        else:
            assert proc.returncode in (143, -signal.SIGTERM), (proc.returncode, stderr.decode())
            assert not out.exists()
        assert _leftovers(tmp_path) == []
    assert 143 in codes, codes  # at least one signal arrived during the run and was handled


@pytest.mark.slow
def test_population_killed_then_resumed_gives_the_same_patients(tmp_path: Path) -> None:
    from fitts.population.recruit import Recruitment, everyday_schedule
    from fitts.run.population import run_population

    args = ["population", "fitts", "--patients", "24", "--recruit", "all", "--run-in-days", "28",
            "--chunk-size", "2", "--backend", "numpy", "--checkpoint", "ck"]
    proc = _start([*args, "--out", "pop.parquet"], tmp_path)
    ck = tmp_path / "ck"
    deadline = time.monotonic() + 180
    while len(list(ck.glob("chunk-*.npz"))) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    done = list(ck.glob("chunk-*.npz"))
    assert proc.returncode == 143 and 2 <= len(done) < 12, (proc.returncode, len(done), stderr.decode())
    assert not (tmp_path / "pop.parquet").exists()
    assert _leftovers(tmp_path) == []
    resumed = subprocess.run([sys.executable, "-m", "fitts.cli", *args, "--out", "pop.parquet", "--resume"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stderr
    whole = run_population("fitts", 24, recruitment=Recruitment("all", 28.0, 0.05, 7.0, tuple(everyday_schedule())),
                           chunk_size=24, backend="numpy")
    got = pd.read_parquet(tmp_path / "pop.parquet")
    pd.testing.assert_frame_equal(got.reset_index(drop=True), whole.table.reset_index(drop=True))
