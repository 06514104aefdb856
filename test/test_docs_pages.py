"""The documentation's own consistency, without running anything: the generated tables of
doc/ros-interface.md are current, every relative link and #anchor of README.md and doc/*.md
resolves, and every bash block is either run by test_docs_commands.py or says why not."""
import subprocess
import sys

import pytest

from doc_pages import ROOT, anchors, bash_blocks, links, pages


def test_generated_tables_are_current():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_doc_tables.py")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-1000:]


def test_generated_parameter_table_lists_every_parameter_once():
    """Independent of the generator: one row per entry of the parameter table, in order."""
    from doc_pages import section, table_column
    from faceverse_ros.ros.params import PARAMS

    rows = table_column(section(ROOT / "doc" / "ros-interface.md", "## Parameters"))
    assert rows == [p.name for p in PARAMS]


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_links_resolve(page):
    broken = []
    for target, line in links(page):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{page.name}:{line}: {target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{page.name}:{line}: {target}: no heading with that anchor")
    assert not broken, "\n".join(broken)


def test_link_checker_finds_a_broken_anchor(tmp_path):
    """The checker itself: a page with a good link, a missing file and a missing anchor."""
    page = tmp_path / "p.md"
    page.write_text("# Top\n\n## A `code` heading: here\n\n[ok](#a-code-heading-here) [bad](#nope) "
                    "[gone](missing.md) `[not a link](x.md)`\n")
    found = {t for t, _ in links(page)}
    assert found == {"#a-code-heading-here", "#nope", "missing.md"}
    assert "a-code-heading-here" in anchors(page) and "nope" not in anchors(page)


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_bash_block_runs_or_says_why_not(page):
    for block in bash_blocks(page):
        if block.mode == "skip":
            assert len(block.reason) >= 10, f"{page.name}:{block.line}: a skipped block needs a reason"


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_code_block_says_its_language(page):
    """An untagged fence could hold commands that test_docs_commands.py never runs: every
    block says what it is (bash, text, python, mermaid, ...)."""
    import re

    fences = re.findall(r"^```(.*)$", page.read_text(), flags=re.M)
    openings = fences[0::2]
    assert all(tag.strip() for tag in openings), f"{page.name}: untagged code block"


def test_some_blocks_run():
    modes = [b.mode for p in pages() for b in bash_blocks(p)]
    assert modes.count("run") >= 3 and "background" in modes, modes
