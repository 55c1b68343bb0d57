"""Every message in docs/errors.md is raised from exactly one place in segkit/.

Each string literal of segkit's source (an f-string's constant parts around its placeholders) is a
template; a documented message is produced by the templates that match it in full. The most
specific of them (the most constant text) must be unique: a rule written twice with the same
words, in a config check and again in a constructor, fails here.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

from .conftest import REPO
from .test_errors import doc_rows

TMP = "<tmp>"


@cache
def templates() -> list[tuple[str, re.Pattern[str], int]]:
    """(``file:line``, pattern, constant characters) of every string literal under segkit/."""
    return _templates(tuple(sorted((REPO / "segkit").rglob("*.py"))))


def _templates(paths: tuple[Path, ...]) -> list[tuple[str, re.Pattern[str], int]]:
    found = []
    for path in paths:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                parts = [v.value if isinstance(v, ast.Constant) else None for v in node.values]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                parts = [node.value]
            else:
                continue
            constant = sum(len(p) for p in parts if p is not None)
            if constant < 12:  # too short to say anything about where a message comes from
                continue
            regex = "".join(re.escape(p) if p is not None else "(.*?)" for p in parts)
            where = f"{path.name}:{node.lineno}"
            found.append((where, re.compile(regex, re.DOTALL), constant))
    return found


def _top(message: str, found: list[tuple[str, re.Pattern[str], int]]) -> list[str]:
    """Where the most specific templates that produce ``message`` are."""
    sources = [(where, n) for where, pattern, n in found if pattern.fullmatch(message)]
    best = max((n for _, n in sources), default=0)
    return [where for where, n in sources if n == best]


@pytest.mark.parametrize(
    "row", sorted(r for r, (raised, _) in doc_rows().items() if raised != "Hydra")
)
def test_documented_message_is_raised_from_one_place(row: str) -> None:
    message = doc_rows()[row][1].replace(TMP, "/tmp/x")
    top = _top(message, templates())
    assert top, f"{row}: no string in segkit/ produces {message!r}"
    assert len(top) == 1, f"{row} is written in {len(top)} places: {top}"


def test_a_rule_written_twice_is_caught(tmp_path: Path) -> None:
    """A second copy of the module that owns a rule makes its message ambiguous."""
    message = doc_rows()["E28"][1]
    (owner,) = _top(message, templates())
    source = REPO / "segkit" / "models" / owner.split(":")[0]
    copy = tmp_path / "copy.py"
    copy.write_text(source.read_text())
    assert len(_top(message, templates() + _templates((copy,)))) == 2
