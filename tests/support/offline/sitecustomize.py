"""Install the tests' network guard at interpreter start (tests put this folder on PYTHONPATH).

A ``sitecustomize`` found further along ``sys.path`` (a distribution's own) still runs:
this one would otherwise hide it.
"""

import importlib.machinery
import importlib.util
import os
import sys

import offline_guard

offline_guard.install()

_here = os.path.dirname(os.path.abspath(__file__))
for _entry in sys.path:
    if os.path.abspath(_entry or ".") == _here:
        continue
    _spec = importlib.machinery.PathFinder.find_spec("sitecustomize", [_entry])
    if _spec is not None and _spec.loader is not None:
        _module = importlib.util.module_from_spec(_spec)
        _spec.loader.exec_module(_module)
        break
