"""Everything that formats or draws: text, Markdown, CSV/JSON, CI outputs, plots, progress."""
