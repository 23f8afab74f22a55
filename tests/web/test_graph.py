"""The task graph drawn as SVG on the server, by each layout: Graphviz's dot (the binary is
installed here and in CI) and grandalf (pure Python), on the synced workflows."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ElementTree

import pytest

from tests.synced import Synced
from zuora_workflow_sync.catalog.workflows import show_workflow
from zuora_workflow_sync.domain.task_graph import GraphEdge, GraphNode, TaskGraph, build_graph
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.web.graph_svg import chosen_layout, render_svg

SVG = "{http://www.w3.org/2000/svg}"


def _node_titles(svg: str) -> list[str]:
    root = ElementTree.fromstring(svg)
    return [
        group.findtext(f"{SVG}title") or ""
        for group in root.iter(f"{SVG}g")
        if "node" in (group.get("class") or "").split()
    ]


@pytest.mark.parametrize("layout", ["graphviz", "grandalf"])
def test_svg_has_one_node_per_task_and_start_when_drawn(synced: Synced, layout: str) -> None:
    if layout == "graphviz" and shutil.which("dot") is None:
        pytest.fail("Graphviz's dot is not installed (.ci/run installs the graphviz package)")
    listed = synced.json("workflows", "list", "--limit", "1000")["items"]
    for summary in listed[:6]:
        shown = show_workflow(synced.runtime.engine, str(summary["id"]))
        graph = build_graph(shown.version.document)
        titles = _node_titles(render_svg(graph, layout))
        assert len(titles) == summary["task_count"] + 1
        assert sorted(titles) == sorted(node.key for node in graph.nodes)


def test_labels_are_escaped_when_a_task_name_is_markup() -> None:
    graph = TaskGraph(
        [
            GraphNode("start", "Start", None, None),
            GraphNode("task-1", '<script>"x"</script>', "Email", 1),
        ],
        [GraphEdge("start", "task-1", "")],
    )
    for layout in ("graphviz", "grandalf"):
        svg = render_svg(graph, layout)
        assert "<script>" not in svg and len(_node_titles(svg)) == 2


def test_auto_layout_picks_graphviz_when_dot_is_installed() -> None:
    assert chosen_layout("auto") == ("graphviz" if shutil.which("dot") else "grandalf")
    with pytest.raises(ConfigurationError, match="a graph layout is one of"):
        chosen_layout("hand-drawn")
