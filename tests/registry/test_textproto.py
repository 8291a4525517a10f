"""The text-format reader on configs written by hand, as TF Serving's docs write them."""

from __future__ import annotations

from visionops.registry.textproto import parse


def test_single_quotes_commas_and_colons_before_braces_are_read() -> None:
    text = """
    model_config_list: {
      config: {
        name: 'digits',
        base_path: '/models/digits';
        model_platform: "tensorflow",
      },
    }
    """

    assert parse(text) == [
        (
            "model_config_list",
            [
                (
                    "config",
                    [
                        ("name", "digits"),
                        ("base_path", "/models/digits"),
                        ("model_platform", "tensorflow"),
                    ],
                )
            ],
        )
    ]


def test_a_comment_runs_to_the_end_of_its_line() -> None:
    assert parse('name: "a" # a comment: with words\nvalue: 2 # last') == [
        ("name", "a"),
        ("value", 2),
    ]


def test_escaped_quotes_stay_inside_their_string() -> None:
    assert parse("""a: "say \\"hi\\"" b: 'it\\'s'""") == [("a", 'say "hi"'), ("b", "it's")]
