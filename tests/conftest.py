import os
import sys

from hypothesis import settings

sys.path.insert(0, os.path.dirname(__file__))

from helpers import SKIP_REASON  # noqa: E402  (after the path insert above)

# CI: a bounded fuzz run; HYPOTHESIS_PROFILE=long for a longer one by hand
settings.register_profile("ci", max_examples=200, deadline=None)
settings.register_profile("long", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line saying how many PyTorch parity tests were skipped, and how to run them."""
    skipped = [report for report in terminalreporter.stats.get("skipped", [])
               if SKIP_REASON in str(getattr(report, "longrepr", ""))]
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} PyTorch parity tests skipped (PyTorch is not installed); "
            "run them with `make parity` (installs torch==2.13.0 into .venv and runs the suite)",
            yellow=True, bold=True)
