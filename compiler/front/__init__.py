"""The front end: source text -> spans, syntax diagnostics and the typed AST."""
