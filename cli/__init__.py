"""Command-line entry points: ``stylize`` (cli.main) and ``stylize-train`` (cli.train)."""
