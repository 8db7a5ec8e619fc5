import signal
import sys

from .run import main


def _terminate(signum, frame):
    raise SystemExit(143)  # so every `finally` runs and stops what the run started


signal.signal(signal.SIGTERM, _terminate)
sys.exit(main())
