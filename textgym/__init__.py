"""textgym: LLM tasks as ordinary Gymnasium environments.

Importing ``textgym`` registers its environments, so ``gymnasium.make("TextTicTacToe-v0")``
works after ``import textgym`` and ``gymnasium.make("textgym:TextTicTacToe-v0")`` works
from a fresh interpreter.
"""

from textgym.core import PRINTABLE_CHARSET, EpisodeOverError, TextEnv, text_space
from textgym.envs import register_envs, registered_env_ids
from textgym.envs.tictactoe import TextTicTacToeEnv

__version__ = "0.1.0"

register_envs()

__all__ = [
    "PRINTABLE_CHARSET",
    "EpisodeOverError",
    "TextEnv",
    "TextTicTacToeEnv",
    "__version__",
    "registered_env_ids",
    "text_space",
]
