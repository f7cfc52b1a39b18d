"""Every command and every option of `mlops` says what it does in --help (commands added later too)."""

import argparse
from collections.abc import Iterator

from mlops.cli import _parser


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("mlops",)) -> Iterator[tuple]:
    """(command path, its parser, its one-line help in the parent's list) for every (sub)command."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, subparser in action.choices.items():
                yield (*path, name), subparser, helps.get(name)
                yield from _commands(subparser, (*path, name))


def test_the_tree_is_walked():
    names = {" ".join(path) for path, _, _ in _commands(_parser())}
    assert {"mlops demo", "mlops synth", "mlops local", "mlops local up", "mlops local tick"} <= names


def test_every_command_has_a_help_line_and_a_description():
    missing = [
        " ".join(path)
        for path, parser, line in _commands(_parser())
        if not (line and line.strip()) or not (parser.description and parser.description.strip())
    ]
    assert missing == [], f"commands without help= (their line in the parent's list) or a description: {missing}"


def test_every_option_and_argument_has_help():
    missing = []
    for path, parser, _ in [(("mlops",), _parser(), None), *_commands(_parser())]:
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            if not (action.help and action.help.strip()) or action.help == argparse.SUPPRESS:
                missing.append(f"{' '.join(path)} {'/'.join(action.option_strings) or action.dest}")
    assert missing == [], f"options without help=: {missing}"
