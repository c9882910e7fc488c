#!/usr/bin/env python3
"""Checks Volley's layering: no import circle between top-level modules of a crate.

Cargo already refuses circles between crates. Inside each crate, this reads every
`crate::NAME` (and `$crate::NAME`, and `super::NAME` from a top-level module's own file)
in the sources, draws an edge from the file's top-level module (`src/load/open_loop.rs`
is in `load`) to `NAME`, and fails if the graph has a cycle. Run by scripts/test.sh.

    python3 scripts/check-layers.py [--graph]
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRATES = ["core", "data", "net", "report", "engine", "wasm", "sim", "export", "kube", "host"]
PATH_RE = re.compile(r"(?<![\w:])\$?crate::([a-z_][a-z0-9_]*)")
SUPER_RE = re.compile(r"(?<![\w:])super::([a-z_][a-z0-9_]*)")
USE_GROUP_RE = re.compile(r"(?<![\w:])\$?crate::\{([^}]*)\}")


def strip_comments(text: str) -> str:
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def top_module(src: Path, file: Path) -> tuple[str, bool]:
    """(the file's top-level module, whether the file is that module's own file)."""
    rel = file.relative_to(src)
    if len(rel.parts) == 1:
        name = rel.stem
        return ("<root>" if name in ("lib", "main") else name), True
    return rel.parts[0], len(rel.parts) == 2 and rel.name == "mod.rs"


def graph(crate: str) -> dict[str, set[str]]:
    src = ROOT / crate / "src"
    modules = {p.stem for p in src.glob("*.rs") if p.stem not in ("lib", "main")} | {p.name for p in src.iterdir() if p.is_dir()}
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for file in src.rglob("*.rs"):
        owner, own_file = top_module(src, file)
        if owner == "<root>":
            continue
        text = strip_comments(file.read_text())
        names = set(PATH_RE.findall(text))
        for group in USE_GROUP_RE.findall(text):
            names |= {g.strip().split("::")[0] for g in group.split(",") if g.strip()}
        if own_file:
            names |= set(SUPER_RE.findall(text))
        for name in names:
            if name in modules and name != owner:
                edges[owner].add(name)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main() -> int:
    show = "--graph" in sys.argv
    failed = False
    for crate in CRATES:
        edges = graph(crate)
        found = cycles(edges)
        if show:
            print(f"{crate}:")
            for m in sorted(edges):
                print(f"  {m} -> {', '.join(sorted(edges[m])) or '-'}")
        for comp in found:
            failed = True
            print(f"check-layers: import circle in {crate}/src between {', '.join(comp)}", file=sys.stderr)
    if not failed:
        print(f"check-layers: no import circle between the top-level modules of {len(CRATES)} crates")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
