"""python-wechaty imports (through the adapter's shim) and has no stray side effects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bot.wechat.shim import load_wechaty

ROOT = Path(__file__).resolve().parents[1]


def test_load_wechaty_returns_the_pinned_client(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("CACHE_DIR", str(tmp_path / "wechaty"))
    modules = load_wechaty(str(tmp_path / "wechaty"))
    assert modules.version == "0.10.7"
    # the shim: PuppetOptions is hashable, so WechatyOptions could be defined
    hash(modules.PuppetOptions())
    options = modules.WechatyOptions(puppet_options=modules.PuppetOptions())
    assert options.port == 5000  # wechaty's default, which the adapter overrides


def test_import_in_a_fresh_interpreter_keeps_its_cache_under_the_data_dir(tmp_path: Path) -> None:
    """Importing the adapter is free; loading wechaty creates CACHE_DIR, not ./.wechaty."""
    script = (
        "import json, sys\n"
        "import bot.runtime, bot.wechat.bot\n"
        "from bot.wechat.shim import load_wechaty\n"
        "before = 'wechaty' in sys.modules\n"
        "modules = load_wechaty('data/wechaty')\n"
        "print(json.dumps({'before': before, 'after': 'wechaty' in sys.modules,"
        " 'version': modules.version}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("CACHE_DIR", "WECHATY_LOG")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"before": False, "after": True, "version": "0.10.7"}
    assert (tmp_path / "data" / "wechaty").is_dir()
    assert not (tmp_path / ".wechaty").exists()


def test_only_the_adapter_imports_wechaty() -> None:
    """Handlers, storage and the rest of bot/ see WeChat only through the transport port."""
    import re

    pattern = re.compile(r"^\s*(?:from|import)\s+(?:wechaty|wechaty_puppet|wechaty_puppet_service)\b", re.M)
    importers = sorted(
        str(path.relative_to(ROOT))
        for folder in ("bot", "handlers", "storage")
        for path in (ROOT / folder).rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    )
    assert importers == ["bot/wechat/shim.py"]
