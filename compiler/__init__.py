"""The HGL compiler: parse, check and compile `.hgl` guidelines to Python modules."""

from hgl.compiler.pipeline import CompileResult, check_source, compile_file, compile_source

__all__ = ["CompileResult", "check_source", "compile_file", "compile_source"]
