"""The thin CLI: --plugin modules (and entry points) load before the parser is built, so a plugin's accountant is
among --accountant's choices; a broken plugin is one error line; `dpmi --help` and the light commands import no
torch; `dpmi run --jobs` defaults to the usable cores, at most one per cell; `dpmi lineup` calls
`dpmi.lineup.serve`; the CLI package stays small and reads no argparse internals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dpmi.cli import main

CLI = Path(__file__).resolve().parents[1] / "src" / "dpmi" / "cli"
PLUGIN = '''
from dpmi.privacy.accounting import RDPAccountant, register_accountant

@register_accountant("rdp-plugin", summary="RDP, registered by a plugin module")
def make(**options):
    return RDPAccountant(**options)
'''


@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    from dpmi.privacy.accounting import factory

    (tmp_path / "my_dpmi_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_dpmi_plugin"
    factory.ACCOUNTANT_REGISTRY.unregister("rdp-plugin")
    sys.modules.pop("my_dpmi_plugin", None)


def test_a_plugin_accountant_is_a_choice_of_every_command(capsys, plugin_module):
    argv = ["epsilon", "--sigma", "1", "--sample-rate", "0.05", "--steps", "100", "--accountant", "rdp-plugin"]
    assert main([*argv, "--plugin", plugin_module, "--json"]) == 0, capsys.readouterr().err
    assert set(json.loads(capsys.readouterr().out)["epsilon"]) == {"rdp-plugin"}
    assert main(["--plugin=" + plugin_module, "epsilon", "--help"]) == 0
    assert "rdp-plugin" in capsys.readouterr().out


def test_a_plugin_that_cannot_be_imported_is_one_error_line(capsys):
    assert main(["epsilon", "--plugin", "no_such_dpmi_plugin", "--sigma", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dpmi: error:") and "no_such_dpmi_plugin" in err[0]


def test_help_and_light_commands_import_no_torch():
    code = (
        "import sys; from dpmi.cli import main; assert 'torch' not in sys.modules; "
        "main(['--help']); main(['epsilon', '--sigma', '1', '--sample-rate', '0.1', '--steps', '10']); "
        "main(['sigma', '--help']); main(['data', 'info', '--help']); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_jobs_default_to_the_usable_cores_at_most_one_per_cell(monkeypatch, tmp_path):
    from dpmi.workflows import run_study

    monkeypatch.setattr(run_study, "usable_cores", lambda: 64)
    options = run_study.RunOptions()
    # 5 levels x 3 seeds = 15 cells by default (plus any defended levels the config plans).
    config = run_study.study_config(options, {})
    from dpmi.study.levels import plan_levels

    assert config.run.jobs == min(64, len(plan_levels(config)) * len(config.cell_seeds()))
    monkeypatch.setattr(run_study, "usable_cores", lambda: 2)
    assert run_study.study_config(options, {}).run.jobs == 2
    assert run_study.study_config(options, {"threads": 2}).run.jobs == 1  # cores shared by the threads
    assert run_study.study_config(run_study.RunOptions(jobs=1), {}).run.jobs == 1  # given: kept
    toml = tmp_path / "study.toml"
    toml.write_text("[run]\njobs = 3\n")
    assert run_study.study_config(run_study.RunOptions(config=str(toml)), {}).run.jobs == 3  # in the file: kept
    assert "usable cores" in " ".join(run_study._jobs_help().split())


def test_lineup_calls_serve_with_the_flags(monkeypatch, tmp_path):
    import dpmi.lineup

    calls = []
    monkeypatch.setattr(dpmi.lineup, "serve", lambda run_dir, **kw: calls.append((run_dir, kw)))
    assert main(["lineup", str(tmp_path), "--port", "8123", "--k", "4", "--data", "faces"]) == 0
    assert calls == [(str(tmp_path), {"host": "127.0.0.1", "port": 8123, "k": 4, "seed": 0, "data": "faces"})]


def test_the_cli_is_thin():
    sources = [p.read_text() for p in CLI.glob("*.py")]
    assert sum(text.count("\n") for text in sources) <= 300
    assert not any("_actions" in text for text in sources)
