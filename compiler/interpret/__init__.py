"""The AST evaluator: the resolved program run directly, an independent check on the code generator."""
