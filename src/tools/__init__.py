"""Command-line tools, run as python -m src.tools.<name>."""
