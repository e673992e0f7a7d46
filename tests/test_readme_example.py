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
    # Chance is 1/20: at epsilon 8 the eigenface-prior attack still shows the judge several private people
    # (6 of 20 measured); 4 of 20 has a binomial tail of 0.016 under guessing.
    assert acc1 >= 0.2
