"""Settings of the browser tests' live server: the live test settings with the workbench on (DEBUG, as a developer
runs the example)."""

from tests.support.live_settings import *  # noqa: F403

DEBUG = True
