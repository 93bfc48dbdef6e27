import os
import sys

from hypothesis import settings

sys.path.insert(0, os.path.dirname(__file__))

# CI: a bounded fuzz run; HYPOTHESIS_PROFILE=long for a longer one by hand
settings.register_profile("ci", max_examples=200, deadline=None)
settings.register_profile("long", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

pytest_plugins = ["player_support"]  # headless Chromium for the player's browser tests, and their skip line
