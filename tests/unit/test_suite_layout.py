"""The suite's own layout: pytest imports test modules by their basename (the test folders
are not packages), so two test files with one name in different folders fail collection of
the whole suite. Running one folder alone does not show it; this test does."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_module_name_is_unique_across_folders() -> None:
    folders_by_name: dict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("test_*.py"):
        folders_by_name[path.name].append(str(path.parent.relative_to(TESTS)))
    clashes = {name: folders for name, folders in folders_by_name.items() if len(folders) > 1}
    assert clashes == {}
