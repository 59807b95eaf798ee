"""Explanations: the resolved program's conditions in words, as written and as sentences."""
