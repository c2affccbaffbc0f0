"""The data flow of the Amazon States Language (JSONPath flavour): paths, `.$` templates, a few intrinsics.

A state's input goes InputPath → Parameters → (the work) → ResultSelector → ResultPath → OutputPath.
Only the subset of JSONPath that state machines really write is understood — `$`, `$.a.b`, `$.a[0]`,
`$['a b']` and the context object `$$` — because the sandbox must fail where AWS fails (a missing
path is a `States.Runtime` error), not guess.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from typing import Any

_MISSING = object()  # lookup(): no default given
_ABSENT = object()  # present(): the default that says the path is not there
_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


class StatesError(Exception):
    """An error as Step Functions names it (`States.Runtime`, `Lambda.ServiceException`, a function's type)."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


def runtime_error(cause: str) -> StatesError:
    return StatesError("States.Runtime", cause)


def steps(path: str) -> list[str | int]:
    """`$.a[0]['b c']` → ["a", 0, "b c"]; `$$.` paths drop the second `$` (the caller picks the context)."""
    text = path[2:] if path.startswith("$$") else path[1:] if path.startswith("$") else None
    if text is None:
        raise runtime_error(f"Invalid path '{path}': a path starts with '$'")
    found: list[str | int] = []
    position = 0
    while position < len(text):
        match = _STEP.match(text, position)
        if match is None:
            raise runtime_error(f"Invalid path '{path}': the sandbox reads only $.a.b, $.a[0] and $['a'] paths")
        name, index, quoted, double = match.groups()
        found.append(int(index) if index is not None else next(p for p in (name, quoted, double) if p is not None))
        position = match.end()
    return found


def lookup(value: Any, path: str, default: Any = _MISSING) -> Any:
    """The value at `path`; a path that is not there is States.Runtime (or `default`, if given)."""
    node = value
    for step in steps(path):
        listed = isinstance(step, int) and isinstance(node, list) and 0 <= step < len(node)
        if listed or (isinstance(step, str) and isinstance(node, dict) and step in node):
            node = node[step]
        else:
            if default is not _MISSING:
                return default
            raise runtime_error(f"Invalid path '{path}' : No results for path: $['{step}']")
    return node


def present(value: Any, path: str) -> bool:
    return lookup(value, path, _ABSENT) is not _ABSENT


def select(value: Any, path: Any, context: dict[str, Any]) -> Any:
    """InputPath / OutputPath: `$` (default) is all of it, null is `{}`."""
    if path is None:
        return {}
    return _read(path, value, context)


def _read(path: str, value: Any, context: dict[str, Any]) -> Any:
    if path.startswith("$$"):
        return copy.deepcopy(lookup(context, path))
    return copy.deepcopy(lookup(value, path))


def place(original: Any, path: Any, result: Any) -> Any:
    """ResultPath: the result replaces the input (`$`), is dropped (null), or is set inside a copy of it."""
    if path is None:
        return copy.deepcopy(original)
    keys = steps(path)
    if not keys:
        return result
    root = copy.deepcopy(original)
    if not isinstance(root, dict):
        raise StatesError("States.ResultPathMatchFailure", f'Unable to apply ResultPath "{path}" to input')
    node = root
    for key in keys[:-1]:
        if not isinstance(key, str):
            raise StatesError("States.ResultPathMatchFailure", f'Unable to apply ResultPath "{path}"')
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    last = keys[-1]
    if not isinstance(last, str):
        raise StatesError("States.ResultPathMatchFailure", f'Unable to apply ResultPath "{path}"')
    node[last] = result
    return root


def render(template: Any, value: Any, context: dict[str, Any]) -> Any:
    """Parameters / ResultSelector / a lambda:invoke Payload: keys ending `.$` take a path or an intrinsic."""
    if isinstance(template, dict):
        rendered: dict[str, Any] = {}
        for key, item in template.items():
            if key.endswith(".$"):
                if not isinstance(item, str):
                    raise runtime_error(f"The value of the field '{key}' must be a path or an intrinsic function")
                rendered[key[:-2]] = evaluate(item, value, context)
            else:
                rendered[key] = render(item, value, context)
        return rendered
    if isinstance(template, list):
        return [render(item, value, context) for item in template]
    return copy.deepcopy(template)


def evaluate(expression: str, value: Any, context: dict[str, Any]) -> Any:
    expression = expression.strip()
    if expression.startswith("States."):
        parsed, end = _parse_call(expression, 0)
        if expression[end:].strip():
            raise StatesError("States.Runtime", f"Invalid intrinsic function: {expression}")
        return _call(parsed, value, context)
    return _read(expression, value, context)


# --- intrinsic functions: States.Format, StringToJson, JsonToString, Array, ArrayLength, MathAdd, UUID ---------
_NAME = re.compile(r"States\.[A-Za-z]+")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_PATH = re.compile(r"\$\$?[^,)\s]*")


def _parse_call(text: str, position: int) -> tuple[tuple[str, list[Any]], int]:
    name_match = _NAME.match(text, position)
    if name_match is None or text[name_match.end() : name_match.end() + 1] != "(":
        raise StatesError("States.Runtime", f"Invalid intrinsic function: {text}")
    name, position = name_match.group(0), name_match.end() + 1
    arguments: list[Any] = []
    while True:
        position = _skip_spaces(text, position)
        if text[position : position + 1] == ")":
            return (name, arguments), position + 1
        argument, position = _parse_argument(text, position)
        arguments.append(argument)
        position = _skip_spaces(text, position)
        if text[position : position + 1] == ",":
            position += 1
        elif text[position : position + 1] != ")":
            raise StatesError("States.Runtime", f"Invalid intrinsic function: {text}")


def _skip_spaces(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def _parse_argument(text: str, position: int) -> tuple[Any, int]:
    if text.startswith("States.", position):
        call, end = _parse_call(text, position)
        return ("call", call), end
    if text[position : position + 1] == "'":
        chars, position = [], position + 1
        while position < len(text) and text[position] != "'":
            if text[position] == "\\" and position + 1 < len(text):
                position += 1
            chars.append(text[position])
            position += 1
        return ("literal", "".join(chars)), position + 1
    for word, literal in (("null", None), ("true", True), ("false", False)):
        if text.startswith(word, position):
            return ("literal", literal), position + len(word)
    number = _NUMBER.match(text, position)
    if number is not None:
        raw = number.group(0)
        return ("literal", float(raw) if "." in raw else int(raw)), number.end()
    path = _PATH.match(text, position)
    if path is not None and path.group(0):
        return ("path", path.group(0)), path.end()
    raise StatesError("States.Runtime", f"Invalid intrinsic function argument in: {text}")


def _call(parsed: tuple[str, list[Any]], value: Any, context: dict[str, Any]) -> Any:
    name, raw_arguments = parsed
    arguments = [_argument(a, value, context) for a in raw_arguments]
    try:
        if name == "States.Format":
            template, rest = str(arguments[0]), list(arguments[1:])
            pieces = template.split("{}")
            if len(pieces) - 1 != len(rest):
                raise ValueError("the number of arguments does not match the template's {}")
            shown = [a if isinstance(a, str) else json.dumps(a) for a in rest]
            return "".join(p + (shown[i] if i < len(shown) else "") for i, p in enumerate(pieces))
        if name == "States.StringToJson":
            return json.loads(arguments[0])
        if name == "States.JsonToString":
            return json.dumps(arguments[0], separators=(",", ":"))
        if name == "States.Array":
            return list(arguments)
        if name == "States.ArrayLength":
            return len(arguments[0])
        if name == "States.MathAdd":
            return arguments[0] + arguments[1]
        if name == "States.UUID":
            return str(uuid.uuid4())
    except (ValueError, TypeError, IndexError, KeyError) as error:
        raise StatesError("States.IntrinsicFailure", f"{name}: {error}") from None
    raise StatesError("States.Runtime", f"The intrinsic function {name} is not emulated by the sandbox")


def _argument(argument: tuple[str, Any], value: Any, context: dict[str, Any]) -> Any:
    kind, content = argument
    if kind == "call":
        return _call(content, value, context)
    if kind == "path":
        return _read(content, value, context)
    return content
