"""The engine's Lambda zip, built from the installed packages: pure Python, the same bytes for the same code.

What goes in: the asgpatch package (minus caches) and what the handler imports that the Lambda runtime
does not provide — croniter (scheduled actions) and tzdata (time zones, where the runtime has no zone
database). The runtime's own boto3, botocore and their dependencies (dateutil among them) are used,
unless `with_boto3` ships the installed ones too: AWS's runtime boto3 lags releases, and the handler
checks at cold start that it is new enough (lambda_handler.check_boto3). The zip is deterministic
(sorted entries, fixed times and modes), so its SHA-256 names its content: a redeploy of unchanged code
uploads nothing and changes nothing, and a changed zip gets a new key, which CloudFormation notices.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("asgpatch", "croniter", "tzdata")
BOTO3 = ("boto3", "botocore", "s3transfer", "jmespath")
FIXED_TIME = (2026, 1, 1, 0, 0, 0)
SKIPPED_PARTS = {"__pycache__"}
SKIPPED_SUFFIXES = (".pyc", ".pyo")
COMPILED = (".so", ".pyd", ".dylib")


class PackageError(Exception):
    """The zip cannot be built from what is installed (a package missing, or not pure Python)."""


@dataclass(frozen=True)
class Package:
    data: bytes
    sha256: str
    files: int

    @property
    def key(self) -> str:
        """Its S3 key: content-hashed, so a new zip is a new key."""
        return f"asgpatch/lambda-{self.sha256[:20]}.zip"


def _root(name: str) -> Path:
    try:
        module = importlib.import_module(name)
    except ImportError:
        raise PackageError(f"{name} is not installed: the Lambda zip needs it (pip install asgpatch)") from None
    if module.__file__ is None:
        raise PackageError(f"{name} has no files to package")
    return Path(module.__file__).resolve().parent


def _files(name: str) -> Iterator[tuple[str, Path]]:
    root = _root(name)
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root.parent)
        if path.is_dir() or SKIPPED_PARTS & set(relative.parts) or path.suffix in SKIPPED_SUFFIXES:
            continue
        if path.suffix in COMPILED:
            raise PackageError(f"{relative} is compiled code: the Lambda zip holds pure Python only")
        yield relative.as_posix(), path


def build(with_boto3: bool = False) -> Package:
    buffer, count = io.BytesIO(), 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in (*PACKAGES, *(BOTO3 if with_boto3 else ())):
            for arcname, path in _files(name):
                entry = zipfile.ZipInfo(arcname, FIXED_TIME)
                entry.external_attr = 0o644 << 16
                entry.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(entry, path.read_bytes())
                count += 1
    data = buffer.getvalue()
    return Package(data, hashlib.sha256(data).hexdigest(), count)
