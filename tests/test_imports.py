"""The import rule (docs/architecture.md), checked on the source.

- ``handlers`` build only on ``storage`` and the base layer of ``bot`` (config, directory, identity,
  transport, clock): they decide, and never reach the network, the CLI or the web;
- the production WeChat adapter (``bot/wechat``) never imports the simulated gateway;
- ``storage`` imports neither ``bot`` nor ``handlers``;
- nothing in the package imports the tests' helpers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "storage")
BASE_LAYER = {"bot.config", "bot.directory", "bot.identity", "bot.transport", "bot.clock"}


def imports_of(path: Path, module: str | None = None) -> set[str]:
    """Every module ``path`` imports (absolute names; relative imports resolved)."""
    module = module or ".".join(path.relative_to(ROOT).with_suffix("").parts)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")[: -node.level]
                base = ".".join([*parent, base] if base else parent)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def violations(package: str, allowed) -> list[str]:
    return [f"{path.relative_to(ROOT)} imports {name}" for path in sources(package)
            for name in sorted(imports_of(path)) if not allowed(name)]


def test_handlers_use_only_storage_and_the_base_layer() -> None:
    def allowed(name: str) -> bool:
        if not within(name, "bot"):
            return not within(name, "tests")
        return any(within(name, base) for base in BASE_LAYER)

    assert violations("handlers", allowed) == []


def test_the_wechat_adapter_never_loads_the_simulator() -> None:
    assert violations("bot/wechat", lambda name: not within(name, "bot.gateway")) == []


def test_storage_stands_alone() -> None:
    assert violations("storage", lambda name: not within(name, "bot") and not within(name, "handlers")) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_the_package_never_imports_test_helpers(package: str) -> None:
    assert violations(package, lambda name: not within(name, "tests")) == []


def test_the_rule_sees_a_violation(tmp_path: Path) -> None:
    """The scan itself works: plain, from- and relative imports are all seen."""
    path = tmp_path / "probe.py"
    path.write_text("import bot.gateway\nfrom ..gateway import server\nfrom tests import stack\n", encoding="utf-8")
    found = imports_of(path, "bot.wechat.probe")
    assert {"bot.gateway", "bot.gateway.server", "tests.stack"} <= found
