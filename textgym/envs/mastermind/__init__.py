"""``TextMastermind-v0``: find a hidden code from black/white-peg feedback (multi-turn)."""
