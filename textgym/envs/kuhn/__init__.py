"""Kuhn poker: pure rules, the exact solver (exploitability by best response), and the
two-seat game."""
