"""The benchmarks' runner (`python -m benchmarks`): every benchmark registered and given a quick
mode, and a benchmark that crashes fails the run with its name. The benchmarks themselves run in
`.ci/run` (quick mode, after the tests), not here."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"


def runner(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def registered() -> tuple[list[str], set[str]]:
    """BENCHMARKS and HELPERS as benchmarks/run.py lists them (read, not imported)."""
    tree = ast.parse((BENCHMARKS / "run.py").read_text())
    found = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    return found["BENCHMARKS"], found["HELPERS"]


def test_every_module_of_benchmarks_is_registered_and_listed():
    names, helpers = registered()
    modules = {p.stem for p in BENCHMARKS.glob("*.py") if not p.stem.startswith("_")}
    assert sorted(modules - set(helpers)) == sorted(names), "add the new benchmark's name to BENCHMARKS in run.py"
    listed = runner("--list", timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == names
    assert all(len(line.split(None, 1)) == 2 for line in listed.stdout.splitlines()), "a docstring is missing"


def test_every_benchmark_has_main_with_quick_and_runs():
    names, _ = registered()
    for name in names:
        tree = ast.parse((BENCHMARKS / f"{name}.py").read_text())
        [main] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
        assert [a.arg for a in main.args.args] == ["argv"], f"{name}.main(argv)"
        options = {
            c.args[0].value
            for c in ast.walk(main)
            if isinstance(c, ast.Call) and getattr(c.func, "attr", "") == "add_argument" and c.args
        }
        assert {"--quick", "--runs"} <= options, f"{name}: {options}"


def test_only_takes_a_name_or_a_unique_prefix():
    done = runner("--list", "--only", "end-to-end", "--only", "graph", timeout=60)
    assert [line.split()[0] for line in done.stdout.splitlines()] == ["end_to_end", "graph_overhead"]
    unknown = runner("--list", "--only", "nope", timeout=60)
    assert unknown.returncode != 0 and "--only nope: unknown (known: writer, " in unknown.stderr


def test_a_benchmark_whose_call_into_the_package_breaks_fails_the_quick_run_by_name(tmp_path):
    """As when `Watermarks.commit` changed under events_10m: here `rollup.roll_up` disappears (in
    every process, through a sitecustomize on PYTHONPATH); ga_rows, unbroken, still runs."""
    (tmp_path / "sitecustomize.py").write_text(
        "from apercite_analytics.store import rollup\ndel rollup.roll_up  # planted by tests/test_benchmarks.py\n"
    )
    done = runner("--quick", "--only", "rollup", "--only", "ga_rows", env={"PYTHONPATH": str(tmp_path)})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "AttributeError" in done.stderr and "roll_up" in done.stderr
    assert "benchmarks: rollup FAILED (exit 1)" in done.stderr
    assert done.stderr.strip().splitlines()[-1] == "benchmarks: 1 of 2 failed: rollup"
    assert "ratio reader / baseline" in done.stdout  # the other benchmark ran to its end
