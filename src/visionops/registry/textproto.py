"""A small reader for protobuf text format, enough for TF Serving's ``models.config``.

It takes what a hand-written config may hold besides what visionops writes: single- as
well as double-quoted strings, and fields separated by commas or semicolons.
"""

from __future__ import annotations

import re

Field = tuple[str, "str | int | float | list[Field]"]

_TOKEN = re.compile(
    # A comment runs to the end of its line, never less (else "# a b" would yield "b").
    r"""\s*(?:#[^\n]*(?:\n|\Z)\s*)*(?:"""
    r"""(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""
    r"""|(?P<punct>[{}:])|(?P<separator>[,;])|(?P<word>[^\s{}:"'#,;]+))"""
)


class TextProtoError(ValueError):
    """The text is not well-formed protobuf text format."""


def _tokens(text: str) -> list[str]:
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            if text[position:].strip() == "" or text[position:].lstrip().startswith("#"):
                break
            raise TextProtoError(
                f"unexpected text at offset {position}: {text[position : position + 20]!r}"
            )
        if match.lastgroup != "separator":
            tokens.append(match.group(match.lastgroup))
        position = match.end()
    return tokens


_ESCAPES = {'"': '"', "\\": "\\", "'": "'", "n": "\n", "t": "\t"}


def quote(value: str) -> str:
    """A string literal in text format: quoted, with backslashes and quotes escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _unquote(literal: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), literal[1:-1])


def _scalar(token: str) -> str | int | float:
    if token.startswith(('"', "'")):
        return _unquote(token)
    for kind in (int, float):
        try:
            return kind(token)
        except ValueError:
            pass
    return token


def parse(text: str) -> list[Field]:
    """Parses text format into nested ``(name, value)`` lists; messages are lists."""
    tokens = _tokens(text)
    stack: list[list[Field]] = [[]]
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token == "}":
            if len(stack) == 1:
                raise TextProtoError("unbalanced '}'")
            stack.pop()
            index += 1
            continue
        name = token
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if following == ":" and index + 2 < len(tokens) and tokens[index + 2] != "{":
            stack[-1].append((name, _scalar(tokens[index + 2])))
            index += 3
            continue
        index += 2 if following == ":" else 1
        if index >= len(tokens) or tokens[index] != "{":
            raise TextProtoError(f"field {name!r} has no value")
        message: list[Field] = []
        stack[-1].append((name, message))
        stack.append(message)
        index += 1
    if len(stack) != 1:
        raise TextProtoError("unbalanced '{'")
    return stack[0]


def fields(message: list[Field], name: str) -> list:
    """Values of every field called ``name`` in ``message``."""
    return [value for key, value in message if key == name]
