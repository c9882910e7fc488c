#!/usr/bin/env python3
"""Checks Volley's layering: no import circle between the modules of any one folder.

Cargo already refuses circles between crates. Inside each crate, every folder of
modules (a crate's `src/`, and each module folder such as `engine/src/client/`) is a
graph: its nodes are the files in it and its sub-folders (everything under a sub-folder
counts as one node). The folder's own module file (`mod.rs`, `x.rs` beside `x/`, or
`lib.rs`/`main.rs`) is not a node: it is the folder's root, which composes its children
while they may use what it declares, as a crate's `lib.rs` does. Every `crate::…`, `super::…` and `self::…` path in the sources (and
`use` groups `crate::a::{b, c}`) is resolved to a module path; a path into a sibling makes
an edge from the node that holds the file to that sibling. A name the folder's own module
file only re-exports (`pub use child::Name`) leads to the child that defines it, and
re-exports themselves are not edges (they are the folder's interface, not its use of the
child). The check fails on any cycle. Run by scripts/test.sh.

    python3 scripts/check-layers.py [--graph]
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRATES = ["core", "data", "net", "report", "engine", "wasm", "sim", "export", "store", "kube", "host"]
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
# A path that starts at crate, super or self, possibly ending in a `{…}` group (one level).
PATH_RE = re.compile(rf"(?<![\w:])(\$?crate|super|self)((?:::(?:{IDENT}))*)(?:::\{{([^{{}}]*)\}})?")
REEXPORT_RE = re.compile(r"(?<![\w:])pub(?:\([^)]*\))?\s+use\s+([^;]+);")
MOD_DECL_RE = re.compile(r"(?<![\w:])(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*;")


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def module_path(src: Path, file: Path) -> list[str]:
    """The module path of a source file (`src/client/h1/mod.rs` is `client::h1`)."""
    parts = list(file.relative_to(src).parts)
    last = parts.pop()
    if last not in ("mod.rs", "lib.rs", "main.rs") or parts:
        if last != "mod.rs":
            parts.append(last[:-3])
    return parts


def folder_of(path: list[str], own_file: bool) -> list[str]:
    """The module whose folder holds a file: itself for `mod.rs`, else its parent."""
    return path if own_file else path[:-1]


def references(src: Path, file: Path, children: set[str]) -> list[tuple[list[str], bool]]:
    """(absolute module path referred to, whether it is a re-export) for each path in
    `file`; `children` are the file's own child modules, which it may name without
    `self::` (`use sse::SseParser;` in `client/mod.rs`)."""
    path = module_path(src, file)
    text = strip_comments(file.read_text())
    # `mod x;` declarations are blanked (same length, so offsets still hold).
    text = MOD_DECL_RE.sub(lambda m: " " * len(m.group(0)), text)
    if children:
        names = "|".join(sorted(map(re.escape, children)))
        text = re.sub(rf"(?<![\w:])(?:{names})::", lambda m: "self::" + m.group(0), text)
    reexports = set()
    for m in REEXPORT_RE.finditer(text):
        reexports.update(range(m.start(), m.end()))
    out = []
    for m in PATH_RE.finditer(text):
        head, rest, group = m.group(1), m.group(2), m.group(3)
        segs = [s for s in rest.split("::") if s]
        if head.endswith("crate"):
            base: list[str] = []
        elif head == "self":
            base = list(path)
        else:
            # `super::super::x`: each `super` climbs one module.
            base = list(path)[:-1]
            while segs and segs[0] == "super":
                segs.pop(0)
                base = base[:-1]
        full = base + segs
        is_reexport = m.start() in reexports
        if group is None:
            out.append((full, is_reexport))
            continue
        for g in group.split(","):
            g = g.strip().split(" as ")[0].strip()
            if not g or g in ("self", "*"):
                out.append((full, is_reexport))
            else:
                out.append((full + [s for s in g.split("::") if s], is_reexport))
    return out


def check_crate(crate: str, show: bool, src: Path | None = None) -> list[str]:
    src = src or ROOT / crate / "src"
    files = sorted(src.rglob("*.rs"))
    paths = {f: module_path(src, f) for f in files}
    # A module's own file: `mod.rs`, the root, or `x.rs` beside a folder `x/`.
    own = {f: f.name in ("mod.rs", "lib.rs", "main.rs") or f.with_suffix("").is_dir() for f in files}
    # Each module folder and the child modules in it.
    folders: dict[tuple, set[str]] = {}
    for f in files:
        p = paths[f]
        if own[f]:
            folders.setdefault(tuple(p), set())
        if p:
            folders.setdefault(tuple(p[:-1]), set()).add(p[-1])
    children_of = {f: (folders.get(tuple(paths[f]), set()) if own[f] else set()) for f in files}
    refs = {f: references(src, f, children_of[f]) for f in files}
    # What each folder's own file re-exports: name -> child that defines it.
    reexported: dict[tuple, dict[str, str]] = {}
    for f in files:
        if not own[f]:
            continue
        folder = tuple(paths[f])
        for target, is_reexport in refs[f]:
            if is_reexport and len(target) >= len(folder) + 2 and tuple(target[: len(folder)]) == folder:
                child = target[len(folder)]
                if child in folders.get(folder, set()):
                    reexported.setdefault(folder, {})[target[-1]] = child
    problems = []
    for folder, children in sorted(folders.items()):
        if not children:
            continue
        edges: dict[str, set[str]] = {c: set() for c in children}
        for f in files:
            p = paths[f]
            if tuple(p[: len(folder)]) != folder:
                continue
            rel = p[len(folder) :]
            if not rel:
                if not own[f]:
                    continue
                node = "(mod)"
            else:
                node = rel[0]
            for target, is_reexport in refs[f]:
                if tuple(target[: len(folder)]) != folder or len(target) == len(folder):
                    continue
                if node == "(mod)" and is_reexport:
                    continue
                name = target[len(folder)]
                dest = name if name in children else reexported.get(folder, {}).get(name, "(mod)")
                if dest != node and "(mod)" not in (node, dest):
                    edges[node].add(dest)
        where = f"{crate}/src/{'/'.join(folder)}".rstrip("/")
        if show:
            print(f"{where}:")
            for m in sorted(edges):
                print(f"  {m} -> {', '.join(sorted(edges[m])) or '-'}")
        for comp in cycles(edges):
            problems.append(f"check-layers: import circle in {where} between {', '.join(comp)}")
    return problems


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
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


def self_test() -> None:
    """The check finds circles it must find (through `super`, a re-export, a sub-folder,
    the root) and none where there is none."""
    import tempfile

    cases = {
        "siblings": ({"lib.rs": "mod a; mod b;", "a.rs": "use crate::b::X;", "b.rs": "use super::a::Y;"}, ["a, b"]),
        "a root that composes": ({"lib.rs": "mod a; fn f() { a::g() }", "a.rs": "use crate::Error;"}, []),
        "through a re-export": (
            {"lib.rs": "mod d;", "d/mod.rs": "mod a; mod b; pub use a::X;", "d/a.rs": "use super::b::Z;", "d/b.rs": "use super::X;"},
            ["a, b"],
        ),
        "a sub-folder as one node": (
            {"lib.rs": "mod a; mod s;", "a.rs": "use crate::s::t::T;", "s/mod.rs": "mod t;", "s/t.rs": "use crate::a::A;"},
            ["a, s"],
        ),
        "none": ({"lib.rs": "mod a; mod b; pub use a::X;", "a.rs": "use crate::b::{Y, Z};", "b.rs": "use crate::Error;"}, []),
    }
    for name, (tree, want) in cases.items():
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "src"
            for rel, text in tree.items():
                (src / rel).parent.mkdir(parents=True, exist_ok=True)
                (src / rel).write_text(text)
            got = [p.rsplit(" between ", 1)[1] for p in check_crate("t", False, src)]
            assert got == want, f"self-test '{name}': found {got}, expected {want}"


def main() -> int:
    show = "--graph" in sys.argv
    self_test()
    problems = []
    for crate in CRATES:
        problems += check_crate(crate, show)
    for p in problems:
        print(p, file=sys.stderr)
    if not problems:
        print(f"check-layers: no import circle between the modules of any folder in {len(CRATES)} crates")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
