"""verifiers' id for textgym envs: ``vf-eval textgym-verifiers ...``.

verifiers loads a taskset by a top-level module name, so this module re-exports
:mod:`textgym.integrations.verifiers` (``pip install 'textgym[verifiers]'``).
"""

from textgym.integrations.verifiers import (
    TextgymEnv,
    TextgymTask,
    TextgymTaskset,
    load_environment,
)

__all__ = ["TextgymEnv", "TextgymTask", "TextgymTaskset", "load_environment"]
