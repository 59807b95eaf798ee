"""The independent evaluator: the resolved program run directly, a check on the code generator (tests compare both)."""
