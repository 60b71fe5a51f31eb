"""Model files for textgym: sizing them from their headers (:mod:`~textgym.models.files`),
loading folders, GGUF files and LoRA adapters (:mod:`~textgym.models.loading`), LoRA
training adapters (:mod:`~textgym.models.lora`), saving atomically with the view
(:mod:`~textgym.models.saving`), and the tiny random model the tests build
(:mod:`~textgym.models.tiny`). Modules that need torch import it themselves; this package
imports nothing.
"""
