"""A Colab start, played on this machine.

A fresh virtual environment gets what a Colab runtime already has (Python and PyTorch) and
nothing of neurcomp. The chapters' install cell, run as it is (with ``NEURCOMP_SOURCE`` pointing at
this checkout instead of the repository, so that the test checks this commit), installs the package
and its light ``notebook`` extra; then chapter 1 runs top to bottom in a kernel of that environment,
with a data folder that holds Kodak and no ``train/`` folder. About 3 minutes on 2 cores.
"""
from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "01_rate_distortion.ipynb"
KODAK = Path(os.environ.get("NEURCOMP_DATA", "")) / "kodak"


def _run(cmd, env, cwd, timeout=900):
    # cwd outside the checkout: `python -c` puts the working directory on sys.path
    proc = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))[:200]} failed:\n{(proc.stdout + proc.stderr)[-3000:]}"
    return proc.stdout


@pytest.mark.slow
@pytest.mark.skipif(not (KODAK / "kodim01.png").is_file(), reason="needs NEURCOMP_DATA with kodak/ (no download in tests)")
def test_a_fresh_environment_runs_chapter_1_after_the_install_cell(tmp_path):
    nb = nbformat.read(CHAPTER, as_version=4)
    install = next(c.source for c in nb.cells if c.cell_type == "code")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    venv = tmp_path / "venv"
    py = venv / "bin" / "python"
    _run([sys.executable, "-m", "venv", venv], env, tmp_path)
    # what Colab brings: PyTorch (the version of this environment; a CPU build where pip is set up for one)
    _run([py, "-m", "pip", "install", "-q", f"torch=={importlib.metadata.version('torch').split('+')[0]}"], env, tmp_path)
    assert subprocess.run([py, "-c", "import neurcomp"], env=env, cwd=tmp_path, capture_output=True).returncode != 0

    # the install cell, as the reader runs it (twice: the second time it must do nothing)
    cell_env = {**env, "NEURCOMP_SOURCE": ROOT.as_uri()}
    _run([py, "-c", install], cell_env, tmp_path)
    where = _run([py, "-c", "import neurcomp, ipywidgets; print(neurcomp.__file__)"], env, tmp_path).strip()
    assert Path(where).is_relative_to(venv), f"neurcomp imported from {where}, not from the fresh environment"
    _run([py, "-c", f"import subprocess; subprocess.run = None\n{install}"], cell_env, tmp_path)  # installed: no pip call

    # chapter 1, top to bottom, in a kernel of the fresh environment; Kodak but no train/ folder
    data = tmp_path / "data"
    data.mkdir()
    (data / "kodak").symlink_to(KODAK.resolve())
    kernels = tmp_path / "jupyter"
    _run([py, "-m", "ipykernel", "install", "--prefix", kernels, "--name", "colab-start"], env, tmp_path)
    run_env = {**env, "JUPYTER_PATH": str(kernels / "share" / "jupyter"), "NEURCOMP_DATA": str(data),
               "NEURCOMP_PROFILE": "quick", "MPLBACKEND": "Agg"}
    out = tmp_path / "ch1.ipynb"
    _run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "--output", out,
          "--ExecutePreprocessor.kernel_name=colab-start", "--ExecutePreprocessor.timeout=600", CHAPTER], run_env, tmp_path)
    done = nbformat.read(out, as_version=4)
    errors = [o for c in done.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors[:1]
    figures = sum("image/png" in o.get("data", {}) for c in done.cells for o in c.get("outputs", []))
    expected = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert figures == expected, f"{figures} figures, the committed chapter has {expected}"
    text = "".join(o.get("text", "") for c in done.cells for o in c.get("outputs", []) if o.get("output_type") == "stream")
    assert "chapter run time:" in text, "the chapter did not reach its last cell"
