"""Starts moto's server with a faster clock.

moto asks "now" through datetime conversions several times per queued message on every
SendMessage and ReceiveMessage (each message's visibility and delay), which makes a FIFO queue
with a thousand messages answer in about a second per call and starves the other pollers. The
same values from time.time() make it two orders of magnitude faster; nothing else changes.
"""

import sys
import time

import moto.core.utils as utils

_slow_unix_time = utils.unix_time


def unix_time(dt=None):
    if dt is None:
        return time.time()
    return _slow_unix_time(dt)


def unix_time_millis(dt=None):
    return unix_time(dt) * 1000.0


utils.unix_time = unix_time
utils.unix_time_millis = unix_time_millis

import moto.sqs.models as sqs_models  # noqa: E402  (patched names are imported by value)

sqs_models.unix_time = unix_time
sqs_models.unix_time_millis = unix_time_millis

from moto.server import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
