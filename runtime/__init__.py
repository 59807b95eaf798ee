"""The HGL runtime: evaluate compiled guidelines against cases.  Imports nothing from the compiler."""

from .api import Guideline, Result, load, load_module_source
from .schema import CaseError

__all__ = ["CaseError", "Guideline", "Result", "load", "load_module_source"]
