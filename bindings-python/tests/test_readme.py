"""The README's analyst example runs as written, on the fixture export."""

import re
import shutil

import pytest

from conftest import FIXTURE_EXPORT, PACKAGE


def test_the_analyst_example_runs(tmp_path, monkeypatch, capsys):
    pytest.importorskip("pandas", reason="the README example shows .to_pandas()")
    text = (PACKAGE / "README.md").read_text()
    section = text[text.index("## For analysts"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) <= 10
    shutil.copy(FIXTURE_EXPORT, tmp_path / "export.jsonl")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - our own README
    out = capsys.readouterr().out
    assert "Bukoba 0.0%" in out and "Musoma 100.0%" in out
    assert "simulated.kwh" in out
