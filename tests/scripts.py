"""Loading a file that is no module of the package (an example, a benchmark) in a test."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def load_script(path: Path, name: str | None = None, register: bool = False) -> ModuleType:
    """The module of the Python file ``path``, run once, named ``name`` (the file's stem by
    default); ``register`` puts it in ``sys.modules`` first, which a file defining
    dataclasses needs (the caller removes it again, e.g. with ``monkeypatch.setitem``)."""
    name = name or path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, f"cannot load {path}"
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
