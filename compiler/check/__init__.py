"""Checking: the AST -> the resolved program plus every diagnostic."""
