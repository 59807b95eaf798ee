"""Mutation testing: small edits of the resolved program, run against a guideline's cases (`hgl test --mutate`)."""
