"""Ending a process that used a Temporal client.

The Temporal SDK's Rust runtime keeps native threads that can call into Python while
CPython finalizes, which aborts the process ("PyGILState_Release: thread state ... must be
current", temporalio/sdk-python#300) after its work is done. So such processes end here:
output flushed, logging shut down, then ``os._exit`` skips the interpreter's teardown.
"""

from __future__ import annotations

import logging
import os
import sys


def exit_now(code: int) -> None:
    """Flush everything and end the process with ``code``, skipping finalization."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
