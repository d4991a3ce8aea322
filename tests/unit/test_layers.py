"""The tree's layers: what the services run imports nothing from the build-time and developer tools (scripts/),
the benchmark, the CLI or the tests, so that none of them ships in, or can break, a running service."""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
RUNTIME = ('services', 'storage')
NOT_FOR_RUNTIME = {'scripts', 'bench', 'cli', 'tests'}


def imported_packages(path):
    """The top-level package of every module `path` imports."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name.partition('.')[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module.partition('.')[0]


@pytest.mark.parametrize('path', sorted(path.relative_to(ROOT) for package in RUNTIME
                                        for path in (ROOT / package).rglob('*.py')), ids=str)
def test_runtime_code_imports_no_tool(path):
    assert not set(imported_packages(ROOT / path)) & NOT_FOR_RUNTIME
