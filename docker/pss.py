"""Proportional set size (PSS) of a stack at rest: the sum of /proc/PID/smaps_rollup `Pss` over process trees.

    python docker/pss.py STATE_DIR            # `make up`'s stack: the trees of STATE_DIR/pids/*.pid
    python docker/pss.py --compose PROJECT    # a compose project: the trees of its containers' main processes

PSS shares each shared page among the processes that map it, so the per-process figures add up to what the
stack really occupies (RSS would count the shared libraries of every Python process again). Needs read access to
the processes' /proc entries (the same user, or root for containers).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import defaultdict
from pathlib import Path


def pss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def children() -> dict[int, list[int]]:
    tree = defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        ppid = int(text.rsplit(")", 1)[1].split()[1])  # the field after the state, past the (comm)
        tree[ppid].append(int(stat.parent.name))
    return tree


def tree_pss(root: int, tree: dict[int, list[int]]) -> tuple[int, int]:
    """(PSS in KiB, number of processes) of root and all its descendants."""
    total, count, todo = 0, 0, [root]
    while todo:
        pid = todo.pop()
        try:
            total += pss_kib(pid)
            count += 1
        except OSError:  # exited meanwhile
            continue
        todo.extend(tree.get(pid, []))
    return total, count


def roots_of_state(state: Path) -> dict[str, int]:
    return {p.stem: int(p.read_text()) for p in sorted((state / "pids").glob("*.pid"))}


def roots_of_compose(project: str) -> dict[str, int]:
    ids = subprocess.run(["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={project}"],
                         capture_output=True, text=True, check=True).stdout.split()
    out = {}
    for cid in ids:
        name, pid = subprocess.run(["docker", "inspect", "-f", "{{.Name}} {{.State.Pid}}", cid],
                                   capture_output=True, text=True, check=True).stdout.split()
        out[name.lstrip("/")] = int(pid)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("target", help="a state directory, or with --compose a compose project name")
    p.add_argument("--compose", action="store_true")
    args = p.parse_args(argv)
    roots = roots_of_compose(args.target) if args.compose else roots_of_state(Path(args.target))
    if not roots:
        print(f"pss: no running process found for {args.target}", file=sys.stderr)
        return 1
    tree, total, width = children(), 0, max(map(len, roots))
    for name, pid in sorted(roots.items()):
        kib, n = tree_pss(pid, tree)
        total += kib
        print(f"{name:<{width}} {n:>3} processes {kib / 1024:8.0f} MiB")
    print(f"{'total':<{width}} {'':>13} {total / 1024:8.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
