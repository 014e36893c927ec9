"""Nimbus: shared core (settings, errors, database) used by api, workflows and activities."""
