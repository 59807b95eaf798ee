"""The compiler driver: source text -> parse -> check -> generate, with diagnostics at every stage."""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from pathlib import Path

from hgl.compiler.check import checks
from hgl.compiler.check.program import Program
from hgl.compiler.front import parser
from hgl.compiler.front.diagnostics import Diagnostic
from hgl.compiler.front.nodes import Guideline
from hgl.compiler.front.source import NO_SPAN, Source


@dataclass
class CompileResult:
    source: Source
    diagnostics: list[Diagnostic] = field(default_factory=list)
    guideline: Guideline | None = None
    program: Program | None = None
    code: str | None = None

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors


class InternalError(Exception):
    """A bug in the compiler, never the author's fault; carries the original traceback text."""


def check_source(source: Source) -> CompileResult:
    """Parse and check; no code is generated."""
    result = CompileResult(source)
    try:
        guideline, diags = parser.parse(source)
        result.diagnostics.extend(diags)
        if guideline is None:
            return result
        result.guideline = guideline
        program, diags = checks.check(guideline)
        result.program = program
        result.diagnostics.extend(diags)
    except RecursionError:
        result.diagnostics.append(Diagnostic(
            "HGL100", "the text nests too deeply to read", NO_SPAN, "split long expressions into definitions"))
    except Exception as exc:  # an internal error: reported as such, never as the author's mistake
        raise InternalError(traceback.format_exc()) from exc
    result.diagnostics.sort(key=Diagnostic.sort_key)
    return result


def compile_source(source: Source) -> CompileResult:
    """Parse, check and, when there is no error, generate the module source."""
    result = check_source(source)
    if result.ok and result.program is not None:
        from hgl.compiler.python import codegen  # checking alone (editors, the LSP) does not need it

        try:
            result.code = codegen.generate(result.program, source.name, source.sha256)
        except Exception as exc:
            raise InternalError(traceback.format_exc()) from exc
    return result


def read_source(path: str | Path, display: str | None = None) -> Source:
    p = Path(path)
    return Source(display or str(path), p.read_text(encoding="utf-8"))


def compile_file(path: str | Path) -> CompileResult:
    return compile_source(read_source(path))
