"""Lineage: what produced each model version, what each data version produced, and proof.

- ``sources``: what a run records (git state, dvc.lock stages), read by the deployment stage.
- ``version_record``: builds the lineage record the deployment stage writes with a version.
- ``record``: reading lineage records and where each version stands with production.
- ``account`` and ``mermaid``: ``visionops lineage show`` (text, JSON, Mermaid).
- ``trace``: ``visionops lineage trace``, every version that used a piece of data.
- ``verify`` and ``dvc_store``: ``visionops lineage verify``, files, audit log, DVC data.
- ``reproduce`` and ``compare``: ``visionops reproduce``, an exact rerun from the record.
- ``commands``: what those commands print.
- ``openlineage`` and ``openlineage_settings``: each stage run's OpenLineage events.
"""
