"""`visionops lineage show --format mermaid`: a valid graph from the data to the version."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from visionops.console import main
from visionops.lineage.account import account
from visionops.lineage.mermaid import render_mermaid

from .conftest import MODEL
from .synthetic import add_version, md5_of

# A node declaration (id then a shape: [..], [(..)], {{..}}) or an edge (id --> id, or a
# dotted edge with a label).
_NODE = re.compile(r'(\w+)(\["[^"]*"\]|\[\("[^"]*"\)\]|\{\{"[^"]*"\}\})')
_EDGE = re.compile(r"(\w+) (?:-->|-\. [^.]+ \.->) (\w+)")


def parse_flowchart(text: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Nodes (id: declaration) and edges of a Mermaid ``graph LR``; fails on anything else."""
    lines = text.splitlines()
    assert lines[0] == "graph LR"
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str]] = []
    for line in lines[1:]:
        node, edge = _NODE.fullmatch(line.strip()), _EDGE.fullmatch(line.strip())
        assert node or edge, f"not a node or an edge: {line!r}"
        if node:
            assert node[1] not in nodes, f"node {node[1]} declared twice"
            nodes[node[1]] = node[2]
        else:
            edges.append((edge[1], edge[2]))
    for start, end in edges:
        assert start in nodes and end in nodes, f"edge {start} --> {end} names an undeclared node"
    return nodes, edges


def reachable(edges: list[tuple[str, str]], start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        current = todo.pop()
        for source, target in edges:
            if source == current and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_the_graph_runs_from_the_raw_data_through_every_stage_to_the_version(
    registry: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["lineage", "show", f"{MODEL}:1", "--registry", str(registry), "--format", "mermaid"])
    nodes, edges = parse_flowchart(capsys.readouterr().out)
    for stage in ("ingestion", "data_validation", "data_processing", "training", "evaluation"):
        assert f"stage_{stage}" in reachable(edges, "source")
    assert "model" in reachable(edges, "source")
    assert '"digits:1"' in nodes["model"]
    raw = next(n for n, label in nodes.items() if "raw_dataset" in label)
    assert md5_of("one:raw")[:8] in nodes[raw]
    assert ("stage_ingestion", raw) in edges
    assert (raw, "stage_data_validation") in edges


def test_an_old_record_still_draws_a_valid_graph(tmp_path: Path) -> None:
    add_version(tmp_path, MODEL, 1, {"metrics": {"accuracy": 0.9}})
    nodes, edges = parse_flowchart(render_mermaid(account(tmp_path, MODEL, 1)))
    assert set(nodes) == {"source", "model"}
    assert edges == [("source", "model")]


def test_quotes_in_names_cannot_break_the_syntax(tmp_path: Path) -> None:
    add_version(tmp_path, 'we"ird', 1, {"parameters": {"ingestion": {"source": 'a"b'}}})
    parse_flowchart(render_mermaid(account(tmp_path, 'we"ird', 1)))
