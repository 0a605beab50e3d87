"""The analyst example (examples/par_by_area.py) runs on the fixture export."""

import importlib.util
import subprocess
import sys

from conftest import FIXTURE_EXPORT, PACKAGE

EXAMPLE = PACKAGE / "examples" / "par_by_area.py"


def test_par_by_area(tmp_path):
    plot = tmp_path / "revenue.png"
    run = subprocess.run([sys.executable, str(EXAMPLE), str(FIXTURE_EXPORT), "--plot", str(plot)],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    rows = [line.split() for line in lines]
    assert ["Bukoba", "0.00%", "0", "70000"] in rows
    assert ["Musoma", "100.00%", "200000", "200000"] in rows
    assert ["all", "areas", "74.07%", "200000", "270000"] in rows
    assert ["2026-05", "95997"] in rows
    assert ["total", "268597"] in rows
    if importlib.util.find_spec("matplotlib"):
        assert plot.read_bytes().startswith(b"\x89PNG")
    else:
        assert "(matplotlib is not installed: no plot)" in lines
