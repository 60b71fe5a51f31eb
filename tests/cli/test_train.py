"""``textgym train sft|rl``: settings checked before any work."""

from __future__ import annotations

import pytest

from textgym.cli import main


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--env", "TextSQL-v0", "--history", "last"], "history 'last' cannot play TextSQL-v0"),
        (["--env", "TextReverse-v0", "--curriculum", "length=2:99"], "must lie within [6, 16]"),
        (["--env", "TextReverse-v0", "--curriculum", "speed=1:2"], "its options: length"),
        (["--env", "TextReverse-v0", "--curriculum", "length"], "NAME=LOW:HIGH"),
        (["--env", "TextReverse-v0", "--teacher", "minimax"], "unknown policy 'minimax'"),
        (["--env", "TextCalculator-v0", "--max-new-tokens", "8"], "cannot hold"),
    ],
)
def test_train_refuses_bad_views_and_options_before_any_work(
    extra, needle, tiny_model_path, tmp_path, capsys
) -> None:
    argv = ["train", "sft", "--model", str(tiny_model_path), "--out", str(tmp_path / "o")]
    assert main([*argv, "--games", "4", *extra]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def _options(parser, *path: str) -> dict[str, object]:
    """The actions of a subcommand's parser, by destination."""
    for name in path:
        sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        parser = sub.choices[name]
    return {a.dest: a for a in parser._actions}


@pytest.mark.parametrize(("stage", "config_name"), [("sft", "SFTConfig"), ("rl", "RLConfig")])
def test_every_option_of_a_config_field_has_the_fields_default_and_doc(stage, config_name):
    """Options that fill a config field show that field's default and doc (the view's
    options default to None: the model's recorded view, else the view's defaults)."""
    import dataclasses

    from textgym.cli import build_parser
    from textgym.cli.common import field_docs
    from textgym.trainers.rl import RLConfig
    from textgym.trainers.sft import SFTConfig

    cls = {"SFTConfig": SFTConfig, "RLConfig": RLConfig}[config_name]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    docs = field_docs(cls)
    # the view (None: recorded), the paths and the curriculum (parsed) have their own options
    own = {"env_id", "system_prompt", "history", "max_new_tokens", "model", "curriculum"}
    options = _options(build_parser(), "train", stage)
    checked = 0
    for dest, action in options.items():
        if dest not in fields or dest in own:
            continue
        assert action.default == fields[dest].default, dest
        assert docs[dest] in action.help, dest
        checked += 1
    assert checked >= (9 if stage == "sft" else 13)
