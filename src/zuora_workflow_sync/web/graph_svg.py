"""The task graph as SVG, drawn on the server: Graphviz's `dot` (through the `graphviz` package)
lays it out when the binary is installed, else grandalf's Sugiyama layout (pure Python) does
and this module only draws the boxes and lines at the positions grandalf computed.

Either way each node is a `<g class="node">` holding a `<title>` with its key (`start`,
`task-<id>`), so the page (and its tests) can count and find them.
"""

from __future__ import annotations

import shutil
from html import escape

from zuora_workflow_sync.catalog.graph import label_lines, to_dot
from zuora_workflow_sync.domain.task_graph import GraphNode, TaskGraph
from zuora_workflow_sync.errors import ConfigurationError

LAYOUTS = ("auto", "graphviz", "grandalf")
_CHAR_WIDTH = 7.0
_LINE_HEIGHT = 16.0
_PAD = 10.0
_GAP = 40.0
_X_SPACE = 30
_Y_SPACE = 45


def chosen_layout(wanted: str) -> str:
    """`graphviz` or `grandalf`: `auto` picks Graphviz when `dot` is on the PATH."""
    if wanted not in LAYOUTS:
        raise ConfigurationError(f"a graph layout is one of {', '.join(LAYOUTS)}, got {wanted!r}")
    if wanted == "auto":
        return "graphviz" if shutil.which("dot") else "grandalf"
    return wanted


def render_svg(graph: TaskGraph, layout: str = "auto") -> str:
    """The graph as an `<svg>` element (no XML prolog), for a page or a download."""
    if chosen_layout(layout) == "graphviz":
        return _graphviz_svg(graph)
    return _grandalf_svg(graph)


def _graphviz_svg(graph: TaskGraph) -> str:
    import graphviz

    if shutil.which("dot") is None:
        raise ConfigurationError(
            "the graphviz layout needs Graphviz's dot: apt-get install graphviz"
        )
    svg: str = graphviz.Source(to_dot(graph)).pipe(format="svg", encoding="utf-8")
    return svg[svg.index("<svg") :]


def _size(node: GraphNode) -> tuple[float, float]:
    lines = label_lines(node)
    width = max(len(line) for line in lines) * _CHAR_WIDTH + 2 * _PAD
    return width, len(lines) * _LINE_HEIGHT + _PAD


class _View:
    """The size grandalf lays a vertex out with, and where it put it (`xy`, its centre)."""

    def __init__(self, width: float, height: float) -> None:
        self.w, self.h = width, height
        self.xy = (0.0, 0.0)


class _EdgeView:
    """Where grandalf routes an edge: its points, from the source's border to the target's
    (through the layers between, and around a cycle's reversed edge)."""

    def __init__(self) -> None:
        self.points: list[tuple[float, float]] = []

    def setpath(self, points: list[tuple[float, float]]) -> None:
        self.points = [(float(x), float(y)) for x, y in points]


Box = tuple[float, float, float, float]
Path = list[tuple[float, float]]


def _layout(graph: TaskGraph) -> tuple[dict[str, Box], list[Path]]:
    """Each node's box (centre x, centre y, width, height) and each edge's path, the graph's
    components side by side."""
    from grandalf.graphs import Edge, Graph, Vertex
    from grandalf.layouts import SugiyamaLayout
    from grandalf.routing import route_with_lines

    vertices = {node.key: Vertex(node.key) for node in graph.nodes}
    for node in graph.nodes:
        vertices[node.key].view = _View(*_size(node))
    edges = [Edge(vertices[e.source], vertices[e.target]) for e in graph.edges]
    for edge in edges:
        edge.view = _EdgeView()
    boxes: dict[str, Box] = {}
    shifts: dict[str, float] = {}
    offset = 0.0
    for component in Graph(list(vertices.values()), edges).C:
        sugiyama = SugiyamaLayout(component)
        sugiyama.xspace, sugiyama.yspace = _X_SPACE, _Y_SPACE  # room for the edge labels
        sugiyama.route_edge = route_with_lines
        sugiyama.init_all()
        sugiyama.draw()
        placed = list(component.sV)
        shift = offset - min(v.view.xy[0] - v.view.w / 2 for v in placed)
        for vertex in placed:
            x, y = vertex.view.xy
            boxes[vertex.data] = (x + shift, y, vertex.view.w, vertex.view.h)
            shifts[vertex.data] = shift
        offset = max(box[0] + box[2] / 2 for box in boxes.values()) + _GAP
    paths = [
        [(x + shifts[e.source], y) for x, y in edge.view.points]
        for e, edge in zip(graph.edges, edges, strict=True)
    ]
    return boxes, paths


def _grandalf_svg(graph: TaskGraph) -> str:
    boxes, paths = _layout(graph)
    top = min(y - h / 2 for _, y, _, h in boxes.values()) - _PAD
    width = max(x + w / 2 for x, _, w, _ in boxes.values()) + _PAD
    height = max(y + h / 2 for _, y, _, h in boxes.values()) - top + _PAD
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="{-_PAD:.0f} {top:.0f} {width + _PAD:.0f} {height:.0f}" class="graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>',
    ]
    for edge, path in zip(graph.edges, paths, strict=True):
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in path)
        (x1, y1), (x2, y2) = path[0], path[1]
        parts.append(
            f'<g class="edge"><polyline points="{points}" fill="none" stroke="black" '
            f'marker-end="url(#arrow)"/><text x="{(x1 + x2) / 2 + 4:.1f}" '
            f'y="{(y1 + y2) / 2:.1f}" font-size="11">{escape(edge.label)}</text></g>'
        )
    for node in graph.nodes:
        parts.append(_node_svg(node, boxes[node.key]))
    parts.append("</svg>")
    return "\n".join(parts)


def _node_svg(node: GraphNode, box: Box) -> str:
    x, y, w, h = box
    dash = ' stroke-dasharray="4 3"' if node.missing else ""
    radius = h / 2 if node.task_id is None else 4
    texts = "".join(
        f'<text x="{x:.1f}" y="{y - h / 2 + _PAD / 2 + (i + 0.8) * _LINE_HEIGHT:.1f}" '
        f'text-anchor="middle" font-size="12">{escape(line)}</text>'
        for i, line in enumerate(label_lines(node))
    )
    return (
        f'<g class="node"><title>{escape(node.key)}</title>'
        f'<rect x="{x - w / 2:.1f}" y="{y - h / 2:.1f}" width="{w:.1f}" height="{h:.1f}" '
        f'rx="{radius:.1f}" fill="white" stroke="black"{dash}/>{texts}</g>'
    )
