"""The tic-tac-toe study: the talk's pipeline (base evaluation, SFT on a teacher's games,
CISPO rounds, a report) and the board audit against every line of perfect play."""
