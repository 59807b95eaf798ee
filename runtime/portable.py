"""A Guideline that plain pickle can ship: by the source of its compiled module.

A worker process or a Spark executor gets the module's Python source (about 300 KB for HER2)
and executes it once per process (a cache keyed by the source's sha256); it needs neither the
`.hgl` file, nor the compile cache, nor the compiler.  Unpickling runs that source, as
unpickling anything runs code: ship guidelines only between processes of your own job.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_by_code: dict[str, object] = {}


def module_code(module) -> str:
    """The Python source a guideline's module was made from."""
    code = getattr(module, "__hgl_code__", None)
    if code is not None:
        return code
    path = getattr(module, "__file__", None)
    if path and Path(path).is_file():  # a module built by `hgl build`, loaded from its file
        return Path(path).read_text(encoding="utf-8")
    raise TypeError(f"cannot pickle a guideline whose module has no source ({getattr(module, '__name__', module)!r})")


def reduce_guideline(guideline):
    """`Guideline.__reduce__`: rebuild from (module source, module name)."""
    return (from_code, (module_code(guideline.module), guideline.module.__name__))


def from_code(code: str, name: str):
    """The Guideline of a module's source, executed once per process."""
    key = hashlib.sha256(code.encode("utf-8")).hexdigest()
    guideline = _by_code.get(key)
    if guideline is None:
        from .api import Guideline, load_module_source

        guideline = _by_code[key] = Guideline(load_module_source(code, name))
    return guideline
