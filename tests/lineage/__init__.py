"""Tests of visionops.lineage: show, trace, verify, reproduce."""
