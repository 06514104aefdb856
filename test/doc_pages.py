"""Reading the user documentation (README.md, doc/*.md) for the tests: bash blocks with their
doc-test markers, links, headings and the tables of doc/ros-interface.md.

A bash block may be preceded (on the line before the fence, or separated from it by
blank lines only) by one marker:

    <!-- doc-test: skip (why) -->      not run; the reason is required
    <!-- doc-test: background -->      started in the background, left running while the
                                        page's later blocks run, then stopped with SIGINT
    <!-- doc-test: timeout=N -->       run with an N-second limit (default 120 s)
"""
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TIMEOUT_S = 120


def pages():
    """README.md and every doc/*.md page."""
    return [ROOT / "README.md"] + sorted((ROOT / "doc").glob("*.md"))


@dataclass
class Block:
    page: Path
    line: int            # 1-based line of the opening fence
    code: str
    mode: str            # "run", "background" or "skip"
    timeout_s: int = DEFAULT_TIMEOUT_S
    reason: str = ""


_FENCE = re.compile(r"^```bash[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
_MARKER = re.compile(r"<!--\s*doc-test:\s*([^\n]*?)\s*-->$")


def bash_blocks(page):
    text = page.read_text()
    blocks = []
    for m in _FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        before = text[:m.start()].rstrip()
        marker = _MARKER.search(before)
        mode, timeout, reason = "run", DEFAULT_TIMEOUT_S, ""
        if marker:
            spec = marker.group(1)
            if spec.startswith("skip"):
                mode, reason = "skip", spec[4:].strip().strip("()").strip()
            elif spec == "background":
                mode = "background"
            elif re.fullmatch(r"timeout=\d+", spec):
                timeout = int(spec.split("=")[1])
            else:
                raise ValueError(f"{page.name}:{line}: unknown doc-test marker {spec!r}")
        blocks.append(Block(page, line, m.group(1), mode, timeout, reason))
    return blocks


def _without_code(text):
    """The page without fenced code blocks and inline code (links there are not links)."""
    text = re.sub(r"^```.*?^```[ \t]*$", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def links(page):
    """(target, line) of every Markdown link and image of a page."""
    text = _without_code(page.read_text())
    out = []
    for m in re.finditer(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text):
        out.append((m.group(1), text.count("\n", 0, m.start()) + 1))
    for m in re.finditer(r"<(https?://[^>\s]+)>", text):
        out.append((m.group(1), text.count("\n", 0, m.start()) + 1))
    return out


def slug(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page):
    text = re.sub(r"^```.*?^```[ \t]*$", "", page.read_text(), flags=re.S | re.M)
    seen, out = {}, set()
    for m in re.finditer(r"^#{1,6}\s+(.*?)\s*#*\s*$", text, flags=re.M):
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def section(page, heading):
    """The text of a page from `heading` (a whole heading line) to the next heading of the
    same or a higher level."""
    text = page.read_text()
    level = len(heading) - len(heading.lstrip("#"))
    start = text.index(heading + "\n")
    rest = text[start + len(heading) + 1:]
    end = re.search(rf"^#{{1,{level}}}\s", rest, flags=re.M)
    return rest[:end.start()] if end else rest


def table_column(text, column=0):
    """The cells of one column of the Markdown tables in `text` (header and rule rows
    skipped), backticks removed."""
    cells = []
    rows = [line for line in text.splitlines() if line.startswith("|")]
    for i, row in enumerate(rows):
        parts = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
        if i + 1 < len(rows) and re.fullmatch(r"\|[-| :]+\|", rows[i + 1].strip()):
            continue          # a header row
        if re.fullmatch(r"[-: ]*", parts[0]):
            continue          # the rule row
        cells.append(parts[column].replace("`", ""))
    return cells
