"""The package's structure: no import cycles between its modules, and the layering contracts hold.

``make test`` runs ``lint-imports`` (the contracts in ``pyproject.toml``) before pytest; this test runs
it too, so a plain ``pytest`` catches a broken layer, and adds what import-linter's contracts do not
say: no module imports itself back through others (function-level imports included).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_no_import_cycles():
    graph = grimp.build_graph("neurcomp")
    modules = sorted(graph.modules)
    cycles = []
    for i, a in enumerate(modules):
        for b in modules[i + 1:]:
            there = graph.find_shortest_chain(importer=a, imported=b)
            back = there and graph.find_shortest_chain(importer=b, imported=a)
            if there and back:
                cycles.append(" -> ".join(there) + " -> ... -> " + a)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_layering_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if exe is None:
        pytest.skip("import-linter is not installed")
    r = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
