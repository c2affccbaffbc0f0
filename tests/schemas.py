"""The JSON schemas docs/output.md publishes, checked against what the commands really print."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SCHEMAS = Path(__file__).resolve().parents[1] / "docs" / "schemas"


@cache
def _validator(name: str) -> Draft202012Validator:
    documents = [json.loads(path.read_text()) for path in sorted(SCHEMAS.glob("*.schema.json"))]
    registry = Registry().with_resources((d["$id"], Resource.from_contents(d)) for d in documents)
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=registry)


def assert_matches_schema(document: Any, name: str) -> None:
    """`name` is a schema in docs/schemas (report, tick, status, schedule, deploy): every problem listed."""
    problems = [
        f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in _validator(name).iter_errors(document)
    ]
    assert not problems, f"does not match docs/schemas/{name}.schema.json:\n" + "\n".join(problems[:20])
