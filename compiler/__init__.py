"""The HGL compiler: parse, check and compile `.hgl` guidelines to Python modules."""

__all__ = ["CompileResult", "check_source", "compile_file", "compile_source"]


def __getattr__(name):
    # imported on first use: `hgl run` on a cached guideline starts without loading the compiler
    if name in __all__:
        from hgl.compiler import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
