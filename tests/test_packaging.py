"""The wheel ships every package of the source tree: setuptools is given an explicit list."""

from __future__ import annotations

import tomllib

from tests.helpers.paths import REPO_ROOT


def test_every_package_of_the_source_tree_is_in_the_wheel() -> None:
    with (REPO_ROOT / "pyproject.toml").open("rb") as file:
        listed = set(tomllib.load(file)["tool"]["setuptools"]["packages"])
    source = REPO_ROOT / "authsvc"
    packages = {
        ".".join(init.parent.relative_to(REPO_ROOT).parts) for init in source.rglob("__init__.py")
    }
    assert "authsvc.errors" in packages  # the walk found the tree
    assert packages - listed == set()
