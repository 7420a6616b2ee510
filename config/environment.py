"""The environment a child process gets: this process's, with `updates` on top.

`ramp demo` starts a real worker process and hands it its settings as RAMP_* variables; reading
the environment to pass it on belongs here, beside `Settings`, the only other reader.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


def child_env(updates: Mapping[str, str]) -> dict[str, str]:
    return {**os.environ, **updates}
