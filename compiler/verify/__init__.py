"""The verification back end: the resolved program -> z3 formulas; gaps, conflicts, dead rules, diffs."""
