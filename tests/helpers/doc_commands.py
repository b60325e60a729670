"""The shell commands and Python snippets that the documentation shows, read from its Markdown files.

Commands come from fenced `bash`/`sh`/`console` blocks (one per line; backslash continuations joined, `# ...`
comments dropped; a heredoc stays one command with its body) and from inline code spans that start like a
command (`make ...`, `python ...`, `.venv/bin/python ...`, `facerevive-...`). Python snippets are fenced `python`
blocks.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The documentation whose every command a test runs.
DOC_FILES = (
    ROOT / "README.md",
    ROOT / "data" / "README.md",
    *sorted((ROOT / "docs").rglob("*.md")),
    ROOT / "src" / "facerevive" / "metrics" / "README.md",
)
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
_INLINE = re.compile(r"(?<![`\w])`((?:make|python|\.venv/bin/python|facerevive-)[ \w][^`\n]*)`")
_HEREDOC = re.compile(r"<<-?\s*'?(\w+)'?")


@dataclass(frozen=True)
class DocCommand:
    """One shell command as the docs show it, and where."""

    text: str
    source: str

    @property
    def argv(self) -> list[str]:
        """The command split like a shell would split it (the first line only for a heredoc)."""
        return shlex.split(self.text.splitlines()[0], comments=True)


def _strip_comment(line: str) -> str:
    """`line` without a trailing `# comment` outside quotes."""
    quote: str | None = None
    for index, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip()
    return line.rstrip()


def _block_commands(body: str, source: str) -> list[DocCommand]:
    commands: list[DocCommand] = []
    lines = body.splitlines()
    index = 0
    while index < len(lines):
        line = _strip_comment(lines[index])
        index += 1
        while line.endswith("\\") and index < len(lines):
            line = line[:-1].rstrip() + " " + _strip_comment(lines[index]).strip()
            index += 1
        if not line.strip():
            continue
        heredoc = _HEREDOC.search(line)
        if heredoc:
            end = heredoc.group(1)
            body_lines = []
            while index < len(lines) and lines[index].strip() != end:
                body_lines.append(lines[index])
                index += 1
            index += 1
            line = "\n".join([line, *body_lines, end])
        commands.append(DocCommand(line.strip(), source))
    return commands


def doc_commands() -> list[DocCommand]:
    """Every shell command of every documentation file, in order."""
    commands: list[DocCommand] = []
    for path in DOC_FILES:
        text = path.read_text(encoding="utf-8")
        source = str(path.relative_to(ROOT))
        for match in _FENCE.finditer(text):
            if match.group(1) in ("bash", "sh", "console", "shell"):
                commands.extend(_block_commands(match.group(2), source))
        without_fences = _FENCE.sub("", text)
        commands.extend(DocCommand(m.group(1).strip(), source) for m in _INLINE.finditer(without_fences))
    return commands


def doc_python_snippets() -> list[DocCommand]:
    """Every fenced `python` block of the documentation."""
    return [
        DocCommand(match.group(2), str(path.relative_to(ROOT)))
        for path in DOC_FILES
        for match in _FENCE.finditer(path.read_text(encoding="utf-8"))
        if match.group(1) == "python"
    ]
