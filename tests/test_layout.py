"""The code's shape: `lstm` imports nothing of the flows' world, its modules import no cycle, and the sweep
imports none of the training stack."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

LSTM = Path(__file__).resolve().parents[1] / "lstm"
FOREIGN = {"flows", "prefect", "optuna", "mlflow"}  # DEVELOPERS.md: lstm/ is plain PyTorch + music21


def lstm_modules() -> list[str]:
    """Every module of the package by dotted name, `lstm.__main__` left out (importing it runs the CLI)."""
    names = []
    for path in sorted(LSTM.rglob("*.py")):
        parts = path.relative_to(LSTM.parent).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def loaded_after_importing(modules: list[str]) -> set[str]:
    """sys.modules of a fresh interpreter (this test process has imported everything already) after `modules`."""
    code = ("import importlib, json, sys\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            "print(json.dumps(sorted(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_lstm_imports_nothing_of_the_flows_world():
    top_level = {m.split(".")[0] for m in loaded_after_importing(lstm_modules())}
    assert "lstm" in top_level and "torch" in top_level
    assert not top_level & FOREIGN, f"lstm imports {sorted(top_level & FOREIGN)}"


def module_imports(name: str) -> set[str]:
    """The lstm modules NAME imports at module level (imports inside functions run later and cannot cycle)."""
    path = LSTM.parent / (name.replace(".", "/") + ".py")
    if not path.is_file():
        path = LSTM.parent / name.replace(".", "/") / "__init__.py"
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}  # `from lstm.data import windows`
    return {m for m in found if m.split(".")[0] == "lstm"}


def test_no_import_cycle_in_lstm():
    modules = set(lstm_modules())
    graph = {m: {i for i in module_imports(m) if i in modules and i != m} for m in modules}
    cycles = []

    def visit(node: str, path: list[str], done: set[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in path:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in done:
                visit(nxt, path + [nxt], done)
        done.add(node)

    finished: set[str] = set()
    for start in sorted(modules):
        if start not in finished:
            visit(start, [start], finished)
    assert not cycles, "import cycles: " + "; ".join(" → ".join(c) for c in cycles)
    assert "lstm.models" in graph["lstm.train"]  # the graph is read, not empty


def test_the_sweep_imports_no_training_stack():
    """The sweep runs on the `cpu` pool and only launches and watches trials: importing its flow (and
    the stack's operations) must not load torch, the training loop or the music code."""
    loaded = loaded_after_importing(["flows.sweep.flow", "flows.ops.stack", "flows.ops.deploy", "flows.ops.report"])
    assert "flows.sweep.flow" in loaded and "prefect" in loaded
    heavy = {m for m in loaded if m.split(".")[0] == "torch" or m == "lstm.train" or m.startswith("lstm.music")}
    assert "lstm.train_config" in loaded  # the space is checked against TrainConfig, torch-free
    assert not heavy, sorted(heavy)[:10]
