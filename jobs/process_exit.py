"""Leave a finished command with its own exit status, whatever native libraries do at teardown.

Native thread pools (Arrow's above all, apache/arrow#34314) can make libstdc++ abort a
process during interpreter finalisation, after the command has finished and printed its
answer ("terminate called without an active exception"); a scheduler then reads SIGABRT as
failure. So entrypoints end the way multiprocessing's own children do: wait for our threads,
run the atexit handlers, flush, and ``os._exit`` before any C++ static destructor runs.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import Callable, NoReturn


def exit_with_status_of(main: Callable[[], int]) -> NoReturn:
    try:
        code = main()
    except SystemExit as exc:  # argparse's usage errors and explicit exits keep their meaning
        code = _status(exc.code)
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (``| head``) is the reader's choice, not our failure
            pass
    os._exit(code)


def _status(code: object) -> int:
    """``SystemExit``'s rules: None is success, an int is the status, anything else is printed and is 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
