"""``TextCalculator-v0``: multi-step arithmetic word problems with a calculator tool."""
