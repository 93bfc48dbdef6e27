"""The lessons in notebooks/: each plain-text source ``NN_name.py`` (jupytext percent format) is in
sync with its committed ``NN_name.ipynb``, runs top to bottom without error in under 60 s (pictures
included, with or without Graphviz's ``dot``), and was committed executed, with outputs that do not
change from run to run. The lessons assert their claims in code; the mutation tests below break an
op's gradient and check that the lesson then fails, so those asserts are known to bite.
"""
from __future__ import annotations

import importlib.util
import os
import re
import sys
import time

import pytest

nbformat = pytest.importorskip("nbformat")
jupytext = pytest.importorskip("jupytext")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK_DIR = os.path.join(ROOT, "notebooks")
MAX_SECONDS = 60.0      # the spec: every lesson runs in under a minute on a 2-core CPU
CELL_TIMEOUT_S = 120    # one stuck cell fails the test instead of hanging it


def load_executor():
    """notebooks/execute_notebooks.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("execute_notebooks", os.path.join(NOTEBOOK_DIR, "execute_notebooks.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXECUTOR = load_executor()
SOURCES = EXECUTOR.sources()
NOTEBOOKS = sorted(name for name in os.listdir(NOTEBOOK_DIR) if name.endswith(".ipynb"))


def read(name):
    return nbformat.read(os.path.join(NOTEBOOK_DIR, name), as_version=4)


def source_cells(name):
    return EXECUTOR.read_source(os.path.join(NOTEBOOK_DIR, name)).cells


def test_every_lesson_is_a_pair_of_plain_text_source_and_notebook():
    assert len(SOURCES) >= 6, SOURCES
    assert [s[:-3] + ".ipynb" for s in SOURCES] == NOTEBOOKS, "every NN_name.py needs its NN_name.ipynb and back"
    assert not os.path.exists(os.path.join(NOTEBOOK_DIR, "build_notebooks.py"))


@pytest.mark.parametrize("source", SOURCES)
def test_notebook_is_in_sync_with_its_plain_text_source(source):
    committed = read(source[:-3] + ".ipynb")
    assert committed.metadata.get("jupytext", {}).get("formats") == "ipynb,py:percent", "not paired by jupytext"
    ours = [(c.cell_type, c.source) for c in source_cells(source)]
    theirs = [(c.cell_type, c.source) for c in committed.cells]
    for index, (a, b) in enumerate(zip(ours, theirs)):
        assert a == b, (f"{source} and its .ipynb differ at cell {index}: run "
                        f"`python notebooks/execute_notebooks.py {source[:2]}` (or `jupytext --sync`)")
    assert len(ours) == len(theirs), f"{source} has {len(ours)} cells, its .ipynb {len(theirs)}"


@pytest.mark.parametrize("source", SOURCES)
def test_lesson_runs_without_error_in_under_a_minute(source, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")  # never open a window; the lessons use the inline backend
    nb = EXECUTOR.read_source(os.path.join(NOTEBOOK_DIR, source))
    start = time.perf_counter()
    # a python3 kernel on this interpreter, cwd notebooks/; raises CellExecutionError naming the failing cell
    EXECUTOR.execute(nb, cwd=NOTEBOOK_DIR, timeout=CELL_TIMEOUT_S)
    seconds = time.perf_counter() - start
    assert seconds < MAX_SECONDS, f"{source} took {seconds:.1f} s to run (limit {MAX_SECONDS:.0f} s)"
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, f"{source}: {errors[0].ename}: {errors[0].evalue}"
    failed_pictures = [o for o in outputs if o.output_type == "stream" and o.name == "stderr"
                       and ("ExecutableNotFound" in o.text or "failed to execute" in o.text)]
    assert not failed_pictures, f"{source}: a picture could not be rendered: {failed_pictures[0].text[:300]}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_was_executed(name):
    code_cells = [c for c in read(name).cells if c.cell_type == "code"]
    assert code_cells, f"{name} has no code cells"
    not_run = [i for i, c in enumerate(code_cells) if c.execution_count is None]
    assert not not_run, f"{name}: code cells {not_run} were never executed; run python notebooks/execute_notebooks.py"
    counts = [c.execution_count for c in code_cells]
    assert counts == list(range(1, len(counts) + 1)), f"{name} was not run top to bottom in one go: {counts}"
    errors = [o for c in code_cells for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{name} was committed with an error output: {errors[0].ename}: {errors[0].evalue}"


def _ends_by_drawing_a_graph(source: str) -> bool:
    lines = source.strip().splitlines()
    return bool(lines) and lines[-1].startswith("draw_graph(")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_pictures_are_there_and_outputs_are_reproducible(name):
    """Every cell that ends by drawing a graph shows it as SVG; no output holds what changes from run
    to run (object addresses, progress-bar timings, id()-based node names)."""
    cells = [c for c in read(name).cells if c.cell_type == "code"]
    for index, cell in enumerate(cells):
        texts = []
        for output in cell.outputs:
            texts.append(output.get("text", ""))
            texts.extend(str(v) for k, v in output.get("data", {}).items() if not k.startswith("image/png"))
        joined = "\n".join(texts)
        assert not re.search(r" at 0x[0-9a-fA-F]+", joined), f"{name} code cell {index}: an object address"
        assert not re.search(r"\d+(\.\d+)?(it/s|s/it)| - \d+(\.\d+)?m?s( -|$)", joined, re.M), \
            f"{name} code cell {index}: a timing"
        if _ends_by_drawing_a_graph(cell.source):
            svgs = [o for o in cell.outputs if "image/svg+xml" in o.get("data", {})]
            assert svgs, f"{name} code cell {index} draws a graph but its output holds no SVG picture"


def _exercise_names(cells):
    """Names checked in 'your turn' cells, and names whose solution asserts its check."""
    asked, solved = set(), set()
    for cell in cells:
        if cell.cell_type != "code":
            continue
        for name in re.findall(r"^check\(\s*\"(\w+)\"", cell.source, flags=re.M):
            asked.add(name)
        for name in re.findall(r"^assert check\(\s*\"(\w+)\"", cell.source, flags=re.M):
            solved.add(name)
    return asked, solved


@pytest.mark.parametrize("source", [s for s in SOURCES if s[:2] in ("01", "03", "04", "05")])
def test_exercises_have_solutions_that_the_run_checks(source):
    cells = source_cells(source)
    asked, solved = _exercise_names(cells)
    assert asked, f"{source} has no 'your turn' exercise (a cell calling check(\"name\", ...))"
    assert asked <= solved, f"{source}: exercises without a checked solution: {sorted(asked - solved)}"
    first_solution = next(i for i, c in enumerate(cells) if c.cell_type == "markdown" and "## Solutions" in c.source)
    last_exercise = max(i for i, c in enumerate(cells) if c.cell_type == "code" and re.search(r"^check\(", c.source, re.M))
    assert last_exercise < first_solution, f"{source}: the solutions must come after every exercise"


# Each sabotage makes one primitive's backward wrong in the lesson's kernel; the lesson must notice.
SABOTAGE = {
    "01": ("mul sends the wrong input's value",
           "import tinygrad_cnn.ops as _ops\n"
           "def _wrong(self, g, out):\n"
           "    a, b = self.parents\n"
           "    return (g * a if a.requires_grad else None), (g * b if b.requires_grad else None)\n"
           "_ops.Mul.backward = _wrong"),
    "03": ("matmul's gradient is 1% too large",
           "import tinygrad_cnn.ops as _ops\n"
           "_right = _ops.MatMul.backward\n"
           "_ops.MatMul.backward = lambda self, g, out: tuple(None if d is None else d * 1.01 for d in _right(self, g, out))"),
    "04": ("overlapping windows' gradients are not all added",
           "import tinygrad_cnn.ops as _ops\n"
           "_right = _ops.FoldWindows.forward\n"
           "_ops.FoldWindows.forward = lambda self, g, *a, **k: _right(self, g, *a, **k) * 0.9"),
}


@pytest.mark.parametrize("prefix", sorted(SABOTAGE))
def test_a_lesson_fails_when_a_gradient_is_wrong(prefix, monkeypatch):
    from nbclient.exceptions import CellExecutionError

    monkeypatch.setenv("MPLBACKEND", "Agg")
    source = next(s for s in SOURCES if s.startswith(prefix))
    nb = EXECUTOR.read_source(os.path.join(NOTEBOOK_DIR, source))
    what, code = SABOTAGE[prefix]
    nb.cells.insert(0, nbformat.v4.new_code_cell(code))
    with pytest.raises(CellExecutionError, match="AssertionError"):
        EXECUTOR.execute(nb, cwd=NOTEBOOK_DIR, timeout=CELL_TIMEOUT_S)


def test_a_failing_cell_fails_the_run():
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"),
                                         nbformat.v4.new_code_cell("assert x == 2, 'the claim does not hold'")])
    with pytest.raises(CellExecutionError, match="the claim does not hold"):
        EXECUTOR.execute(nb, timeout=CELL_TIMEOUT_S)


def test_kernel_runs_on_this_interpreter():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys; print(sys.executable)")])
    EXECUTOR.execute(nb, timeout=CELL_TIMEOUT_S)
    assert nb.cells[0].outputs[0].text.strip() == sys.executable


def test_progress_bars_addresses_and_streams_are_frozen_to_stable_text():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x")])
    nb.cells[0].outputs = [nbformat.v4.new_output("display_data", data={"text/plain": "<graphviz.graphs.Digraph at 0x7f00aa>",
                                                                        "image/svg+xml": "<svg/>"})]
    EXECUTOR.drop_addresses(nb)
    assert nb.cells[0].outputs[0].data["text/plain"] == "<graphviz.graphs.Digraph>"
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text=t) for t in ("a", "b\n")]
    EXECUTOR.coalesce_streams(nb)
    assert [o.text for o in nb.cells[0].outputs] == ["ab\n"]
    assert EXECUTOR._TIMINGS.sub("", " 45/45 [00:01<00:00, 30.21it/s]") == " 45/45"
