"""The language server: diagnostics, hover, definitions and completion for editors."""
