"""A fresh clone must test green on its own: nothing under tests/ (nor the Makefile or .ci/run)
may name a path above the repository root, such as a `../shared` folder on our own machines."""

from __future__ import annotations

import re
from pathlib import Path

from .conftest import ROOT

UPWARD = [
    re.compile(r"\.\./"),  # a relative path climbing out
    re.compile(r"ROOT\.parent\b"),  # the repository root's parent
    re.compile(r"[\"']/work/"),  # our machines' absolute layout
    re.compile(r"[\"']shared[\"']"),  # the `shared` folder beside the clones
]
DEPTH = re.compile(r"parents\[(\d+)\]")


def checked_files() -> list[Path]:
    files = [p for p in (ROOT / "tests").rglob("*") if p.is_file() and p.suffix in {".py", ".yaml", ".yml", ".sql", ".sh", ".ini", ".cfg"}]
    return [*files, ROOT / "Makefile", ROOT / ".ci" / "run", ROOT / "pyproject.toml"]


def test_no_test_or_script_names_a_path_outside_the_repository() -> None:
    offending = []
    for path in checked_files():
        if path.resolve() == Path(__file__).resolve():
            continue  # the patterns above
        relative = path.relative_to(ROOT)
        for line_no, line in enumerate(path.read_text().splitlines(), 1):
            if any(p.search(line) for p in UPWARD):
                offending.append(f"{relative}:{line_no}: {line.strip()}")
            # Path(__file__).parents[k] stays inside the clone only while k < the file's depth.
            for depth in DEPTH.findall(line):
                if int(depth) >= len(relative.parts):
                    offending.append(f"{relative}:{line_no}: {line.strip()}")
    assert not offending, offending
    assert (ROOT / "tests" / "deploy" / "schemas" / "compose-spec.json").exists()
    assert (ROOT / "tests" / "deploy" / "schemas" / "compose-spec.LICENSE").exists()
