"""A version's lineage as a Mermaid flowchart: source, each stage and its outputs' short
hashes, down to the registered version.

Every node is declared once, before any edge; edges follow the recorded paths (an output
feeds each later stage that lists it as a dependency). Paste the text into a Markdown
```` ```mermaid ```` block, or https://mermaid.live.
"""

from __future__ import annotations

import re
from typing import Any

from visionops.lineage.record import NOT_RECORDED, REGISTERING_STAGE

SHORT_HASH = 8


def render_mermaid(info: dict[str, Any]) -> str:
    """``graph LR`` for an account from :func:`visionops.lineage.account.account`."""
    stages = info["stages"] if isinstance(info["stages"], dict) else {}
    data = info["data"]
    nodes: list[str] = []
    edges: list[str] = []
    source = f"source: {data['source']}<br/>{data['path']}<br/>md5 {_short(data['input_md5'])}"
    nodes.append(f'  source["{_escape(source)}"]')
    model = f"{info['model']}:{info['version']}"
    nodes.append(f'  model{{{{"{_escape(model)}"}}}}')
    producer: dict[str, str] = {}
    for stage, entry in stages.items():
        stage_id = f"stage_{_identifier(stage)}"
        nodes.append(f'  {stage_id}["{_escape(stage)}"]')
        for path, md5 in (entry.get("outs") or {}).items():
            if stage == REGISTERING_STAGE:
                continue  # its lock entry is the run before's: no hash of this version's
            data_id = f"data_{len(producer) + 1}"
            producer[path] = data_id
            nodes.append(f'  {data_id}[("{_escape(f"{path}<br/>md5 {_short(md5)}")}")]')
            edges.append(f"  {stage_id} --> {data_id}")
    for index, (stage, entry) in enumerate(stages.items()):
        stage_id = f"stage_{_identifier(stage)}"
        deps = entry.get("deps") or {}
        inputs = [producer[path] for path in deps if path in producer]
        if index == 0 or data["path"] in deps:
            edges.append(f"  source --> {stage_id}")
        edges += [f"  {data_id} --> {stage_id}" for data_id in dict.fromkeys(inputs)]
    if stages:
        last = REGISTERING_STAGE if REGISTERING_STAGE in stages else list(stages)[-1]
        edges.append(f"  stage_{_identifier(last)} --> model")
    else:
        edges.append("  source -. lineage not recorded .-> model")
    return "\n".join(["graph LR", *nodes, *edges]) + "\n"


def _short(md5: object) -> str:
    if not isinstance(md5, str) or md5 == NOT_RECORDED:
        return NOT_RECORDED
    return md5[:SHORT_HASH] + (".dir" if md5.endswith(".dir") else "")


def _identifier(name: str) -> str:
    return re.sub(r"\W", "_", name)


def _escape(text: str) -> str:
    """Text safe inside a quoted Mermaid label."""
    return text.replace('"', "#quot;")
