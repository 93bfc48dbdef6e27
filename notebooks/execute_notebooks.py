"""Execute the lessons: each plain-text source ``NN_name.py`` becomes its committed ``NN_name.ipynb``.

The lessons are written as jupytext percent-format scripts (``# %%`` starts a code cell,
``# %% [markdown]`` a text cell), paired with the ``.ipynb`` notebooks that carry the outputs.
Edit either one: in Jupyter with jupytext installed the pair stays in sync by itself; in an editor,
edit the ``.py`` and run

    python notebooks/execute_notebooks.py              # execute every lesson, write every .ipynb
    python notebooks/execute_notebooks.py 03 04        # only the lessons whose names contain 03 or 04

Executing runs a lesson top to bottom in a fresh ``python3`` kernel on this interpreter, with
``notebooks/`` as working directory, and stores its outputs. Running it twice on the same machine
writes the same bytes: cell ids are numbered, progress bars are stored as their final text without
timings, printed text is one output per cell and stream, object addresses are dropped, and
execution timestamps are not recorded. Files are written atomically.
"""
from __future__ import annotations

import argparse
import html
import os
import re
import sys
import tempfile
import time
from typing import Any, List, Optional, Sequence

import jupytext
import nbformat

NOTEBOOK_DIR = os.path.dirname(os.path.abspath(__file__))
CELL_TIMEOUT_S = 300
PAIRING = "ipynb,py:percent"


def sources() -> List[str]:
    """The lesson sources, ``NN_name.py``, in order."""
    return sorted(name for name in os.listdir(NOTEBOOK_DIR) if re.fullmatch(r"\d\d_\w+\.py", name))


def read_source(path: str) -> nbformat.NotebookNode:
    """The notebook a percent-format source describes, without outputs, with stable cell ids."""
    nb = jupytext.read(path)
    nb.metadata.setdefault("jupytext", {})["formats"] = PAIRING
    nb.metadata["jupytext"].pop("text_representation", None)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index:02d}"  # stable ids: regenerating does not churn the files
        cell.metadata = {}
    return nb


def kernel_manager() -> Any:
    """A manager for a ``python3`` kernel that runs on this very interpreter (``sys.executable``).

    The installed ``python3`` kernelspec may point at another Python; the lessons must run against
    the environment that has this checkout's ``tinygrad_cnn``.
    """
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    class ThisInterpreter(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                              name="python3", display_name="Python 3 (ipykernel)", language="python")

    return AsyncKernelManager(kernel_name="python3", kernel_spec_manager=ThisInterpreter())


def execute(nb: nbformat.NotebookNode, cwd: str = NOTEBOOK_DIR, timeout: int = CELL_TIMEOUT_S) -> float:
    """Run ``nb`` top to bottom in a fresh kernel (at most ``timeout`` s per cell); outputs go into ``nb``.

    Returns the wall time in seconds. Raises ``nbclient.exceptions.CellExecutionError`` naming the
    cell and the exception if a cell fails.
    """
    from nbclient import NotebookClient

    client = NotebookClient(nb, km=kernel_manager(), timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": cwd}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")  # "<graphviz.graphs.Digraph at 0x7f...>": changes every run
_TIMINGS = re.compile(r"\s*\[\d[^\]]*(?:it/s|s/it|\?it/s)[^\]]*\]")


def freeze_progress_bars(nb: nbformat.NotebookNode) -> None:
    """Store each tqdm bar as its final text, without its timings, and drop the live widget state.

    A tqdm bar in a notebook is a widget whose stored plain-text fallback (what a code host shows)
    is the bar as first displayed, "0%"; its final state is in the notebook metadata. The text kept
    is ``desc: 100%|██████████| 45/45``: elapsed time and rate change from run to run.
    """
    widgets = nb.metadata.pop("widgets", {})
    state = widgets.get("application/vnd.jupyter.widget-state+json", {}).get("state", {})

    def model(ref: str) -> dict:
        return state.get(ref.replace("IPY_MODEL_", ""), {}).get("state", {})

    for cell in nb.cells:
        kept = []
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get("application/vnd.jupyter.widget-view+json")
            if output.get("output_type") == "display_data" and view:
                children = [model(ref) for ref in model(view["model_id"]).get("children", [])]
                if len(children) != 3 or "max" not in children[1]:
                    continue  # another widget: nothing useful to show without a kernel
                left, bar, right = children
                done = bar.get("value", 0) / bar["max"] if bar["max"] else 1.0
                filled = int(round(10 * min(max(done, 0.0), 1.0)))
                counts = _TIMINGS.sub("", html.unescape(right.get("value", ""))).replace("\u2007", " ")
                text = f"{html.unescape(left.get('value', ''))}|{'█' * filled}{' ' * (10 - filled)}|{counts}"
                output = nbformat.v4.new_output("display_data", data={"text/plain": text.replace("\u2007", " ")})
            kept.append(output)
        if cell.cell_type == "code":
            cell.outputs = kept


def coalesce_streams(nb: nbformat.NotebookNode) -> None:
    """Join consecutive stdout (or stderr) outputs of a cell into one: how printed text is cut into
    chunks depends on when the kernel flushed, which changes from run to run."""
    for cell in nb.cells:
        merged: list = []
        for output in cell.get("outputs", []):
            last = merged[-1] if merged else None
            if (output.get("output_type") == "stream" and last is not None
                    and last.get("output_type") == "stream" and last.get("name") == output.get("name")):
                last["text"] += output["text"]
            else:
                merged.append(output)
        if cell.cell_type == "code":
            cell.outputs = merged


def drop_addresses(nb: nbformat.NotebookNode) -> None:
    """Remove object addresses from plain-text outputs (the fallback text beside a picture)."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if isinstance(data.get("text/plain"), str):
                data["text/plain"] = _ADDRESS.sub("", data["text/plain"])


def write_atomic(nb: nbformat.NotebookNode, path: str) -> None:
    """Write ``nb`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    nbformat.validate(nb)
    text = nbformat.writes(nb)
    if not text.endswith("\n"):
        text += "\n"
    handle, temp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)),
                                    prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(temp, 0o644)  # mkstemp makes the file private; a notebook is for everyone to read
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise


def build(source: str) -> float:
    """Execute the lesson ``source`` (a ``NN_name.py`` in this folder) and write its ``.ipynb``."""
    nb = read_source(os.path.join(NOTEBOOK_DIR, source))
    seconds = execute(nb)
    freeze_progress_bars(nb)
    coalesce_streams(nb)
    drop_addresses(nb)
    write_atomic(nb, os.path.join(NOTEBOOK_DIR, source[:-3] + ".ipynb"))
    return seconds


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: execute the selected lessons; prints each one's run time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="execute only lessons whose file name contains one of these")
    args = parser.parse_args(argv)
    selected = [name for name in sources() if not args.only or any(part in name for part in args.only)]
    if not selected:
        print(f"no lesson name contains any of {args.only}; lessons: {', '.join(sources())}", file=sys.stderr)
        return 2
    for name in selected:
        print(f"{name[:-3]}.ipynb: executed in {build(name):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
