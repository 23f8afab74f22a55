"""The task graph as text: Mermaid (renders in GitHub and most wikis) or Graphviz DOT.

Labels are escaped for each syntax, so a task named `"]; drop` stays a label.
"""

from __future__ import annotations

import json

from zuora_workflow_sync.domain.task_graph import GraphNode, TaskGraph

FORMATS = ("mermaid", "dot")


def render(graph: TaskGraph, fmt: str) -> str:
    return to_mermaid(graph) if fmt == "mermaid" else to_dot(graph)


def to_mermaid(graph: TaskGraph) -> str:
    lines = ["flowchart TD"]
    for node in graph.nodes:
        text = "<br/>".join(_mermaid_text(part) for part in label_lines(node))
        shape = f'(("{text}"))' if node.task_id is None else f'["{text}"]'
        lines.append(f"  {_mermaid_id(node.key)}{shape}")
    for edge in graph.edges:
        label = f'|"{_mermaid_text(edge.label)}"|' if edge.label else ""
        lines.append(f"  {_mermaid_id(edge.source)} -->{label} {_mermaid_id(edge.target)}")
    return "\n".join(lines) + "\n"


def to_dot(graph: TaskGraph) -> str:
    lines = ["digraph workflow {", "  rankdir=TB;", '  node [shape=box, fontname="Helvetica"];']
    for node in graph.nodes:
        shape = "circle" if node.task_id is None else "box"
        if node.missing:
            shape += ", style=dashed"
        label = _dot_text("\n".join(label_lines(node)))
        lines.append(f"  {_dot_id(node.key)} [label={label}, shape={shape}];")
    for edge in graph.edges:
        label = f" [label={_dot_text(edge.label)}]" if edge.label else ""
        lines.append(f"  {_dot_id(edge.source)} -> {_dot_id(edge.target)}{label};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def label_lines(node: GraphNode) -> list[str]:
    """A node's label: its name, then its action type (Start is just "Start")."""
    if node.task_id is None:
        return [node.label]
    return [node.label, "(not in the export)" if node.missing else node.action_type or "?"]


def _mermaid_id(key: str) -> str:
    return key.replace("-", "_")


def _mermaid_text(text: str) -> str:
    # Mermaid's entity codes, so a label cannot close its quotes or open markup.
    escaped = text.replace("#", "#35;").replace('"', "#quot;")
    escaped = escaped.replace("<", "#lt;").replace(">", "#gt;").replace("\n", " ")
    return escaped.replace("\r", " ")


def _dot_id(key: str) -> str:
    return json.dumps(key)


def _dot_text(text: str) -> str:
    # A DOT string: backslash and quote escaped; a newline becomes DOT's centred line break.
    body = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ")
    body = body.replace("\n", "\\n")
    return f'"{body}"'
