"""The README's Python examples are real: every ```python block compiles, and every
``from sipctl... import name`` in them resolves (docs that match the code)."""
import ast
import importlib
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_block_compiles_and_imports_resolve(code):
    # a block may use `await` at top level of an illustrative snippet: compile as a coroutine
    tree = ast.parse("async def _example():\n" + "\n".join("    " + ln for ln in code.splitlines()))
    compile(tree, "README.md", "exec")
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sipctl"):
            mod = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(mod, alias.name), f"{node.module} has no {alias.name}"
