"""The README's library example runs as printed, on the real faces."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_readme_library_example_runs(faces_root, tmp_path):
    readme = (REPO / "README.md").read_text()
    block = re.search(r"## Library example\s+```python\n(.*?)```", readme, re.S).group(1)
    script = tmp_path / "example.py"
    script.write_text("import torch\ntorch.set_num_threads(1)\n" + block)
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300,
        env={"DPMI_DATA": str(faces_root), "PATH": "/usr/bin:/bin", "DPMI_CACHE": os.environ["DPMI_CACHE"]},
    )
    assert proc.returncode == 0, proc.stderr
    epsilon, acc1 = (float(v) for v in proc.stdout.split()[-2:])
    assert 7.9 <= epsilon <= 8.0  # the example asks for epsilon 8; calibration never overshoots it
    # The trusted judge (the pretrained face recognizer) at epsilon 8: the default study measured 10 % (6 of 60 over
    # three seeds) for this attack, where the evaluation classifier claims 45 %; one seed of 20 people stays well
    # below half (the number printed is the recognizer's, a rate in 0..1).
    assert 0.0 <= acc1 <= 0.5
