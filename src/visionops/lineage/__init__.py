"""Lineage: what produced each model version, what each data version produced, and proof."""
