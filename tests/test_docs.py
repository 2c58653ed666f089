"""The Python examples of the README and the docs index run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.mark.parametrize(
    "doc",
    [
        "README.md",
        "docs/index.md",
        "docs/identity.md",
        "docs/resilience.md",
        "docs/migration.md",
        "docs/mesh.md",
        "docs/protocol.md",
        "docs/transports.md",
        "docs/chain.md",
        "docs/demo.md",
    ],
)
def test_examples_run(doc: str) -> None:
    blocks = python_blocks(ROOT / doc)
    assert blocks, f"{doc} has no python example"
    for code in blocks:
        exec(compile(code, doc, "exec"), {})


def test_readme_opens_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, flags=re.S)
    assert first_block is not None
    commands = [line for line in first_block.group(1).splitlines() if line.strip()]
    assert commands == [
        "pip install . && swarmmesh demo",
        'pip install -e ".[test]" && cargo test && python -m pytest',
    ]
    assert text.index("```bash") < text.index("```python")
