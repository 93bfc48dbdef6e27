import os
import sys

from hypothesis import settings

sys.path.insert(0, os.path.dirname(__file__))

from helpers import SKIP_REASON  # noqa: E402  (after the path insert above)

# CI: a bounded fuzz run; HYPOTHESIS_PROFILE=long for a longer one by hand
settings.register_profile("ci", max_examples=200, deadline=None)
settings.register_profile("long", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

pytest_plugins = ["player_support"]  # headless Chromium for the player's browser tests, and their skip line


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line saying how many PyTorch parity tests were skipped, and how to run them."""
    skipped = [report for report in terminalreporter.stats.get("skipped", [])
               if SKIP_REASON in str(getattr(report, "longrepr", ""))]
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} PyTorch parity tests skipped (PyTorch is not installed); "
            "run them with `make parity` (installs torch==2.13.0 into .venv and runs the suite)",
            yellow=True, bold=True)


import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def empty_dataset_cache(tmp_path_factory):
    """Datasets are cached in a fresh folder for the whole run (subprocesses inherit it), so no test
    reads, or writes into, the user's ~/.cache/tinygrad_cnn/datasets."""
    previous = os.environ.get("TINYGRAD_CNN_DATA")
    os.environ["TINYGRAD_CNN_DATA"] = str(tmp_path_factory.mktemp("dataset-cache"))
    yield
    if previous is None:
        os.environ.pop("TINYGRAD_CNN_DATA", None)
    else:
        os.environ["TINYGRAD_CNN_DATA"] = previous
