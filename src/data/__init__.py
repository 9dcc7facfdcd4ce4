"""Data shipped with the code."""
