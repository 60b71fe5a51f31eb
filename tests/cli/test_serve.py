"""``textgym serve``: arguments refused in one line before the server starts."""

from __future__ import annotations

import pytest

from textgym.cli import main


def _one_error_line(err: str, needle: str) -> None:
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_serve_refuses_a_bad_port_and_an_unimportable_env_in_one_line(capsys) -> None:
    assert main(["serve", "--env", "nosuchmod:X-v0"]) == 2
    _one_error_line(capsys.readouterr().err, "cannot import 'nosuchmod'")
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--env", "TextReverse-v0", "--port", "99999"])
    assert exited.value.code == 2
    assert "a TCP port is 1-65535, got 99999" in capsys.readouterr().err
