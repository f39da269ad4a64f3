"""pytest plugin loaded only by `make mutate` (mutmut): lets the tests' own podium subprocesses run
while mutmut maps tests to the functions they reach.

mutmut marks that mapping pass by MUTANT_UNDER_TEST=stats; a podium subprocess inherits it, and its
trampolines then try to record the hit, read mutmut's config from the subprocess's working
directory (a test's tmp dir) and crash. mutmut's own process keeps the mode in a process-local copy,
so dropping the variable from the environment at configure time leaves the mapping intact and lets
subprocesses run the unmutated code. While a mutant is under test the variable stays, so the
subprocesses of durable tests run the mutant too and can kill it.
"""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("MUTANT_UNDER_TEST") == "stats":
        del os.environ["MUTANT_UNDER_TEST"]
