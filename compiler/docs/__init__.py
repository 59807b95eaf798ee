"""The documentation back end: the resolved program -> Markdown pages and an mkdocs site."""
