"""Scoring a model, comparing it with the production model, and deciding to bless it."""
