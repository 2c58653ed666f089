from __future__ import annotations

import io
import subprocess
import sys

import pytest

import swarmmesh
from swarmmesh import cli


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"swarmmesh {swarmmesh.__version__}"


def test_selfcheck_passes_and_reports_each_primitive() -> None:
    out = io.StringIO()
    assert cli.selfcheck(out) == 0
    text = out.getvalue()
    for section in ("BloomFilter", "DedupFilter", "BreakerRegistry", "Router", "errors"):
        assert f"\n{section}\n" in text
    assert "FAIL" not in text
    assert text.strip().endswith(", 0 failed")


def test_selfcheck_reports_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(c: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "_router", broken)
    out = io.StringIO()
    assert cli.selfcheck(out) == 1
    assert "[FAIL] no unexpected error: RuntimeError: boom" in out.getvalue()


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "selfcheck" in capsys.readouterr().out


def test_console_script_and_module_entry_points() -> None:
    done = subprocess.run([sys.executable, "-m", "swarmmesh", "selfcheck"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 failed" in done.stdout
