"""Profiling images into a table, and validating that table with Great Expectations."""
