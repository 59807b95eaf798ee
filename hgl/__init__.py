"""HGL: clinical practice guidelines as code."""
