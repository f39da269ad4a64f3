"""Output schemas' `$ref`s: a schema's own (`#/…`) and files next to the workflow, read at load time.

A JSON Schema may `$ref` any URI, and jsonschema, left alone, fetches `http://…` and reads
`file:///…` while it validates a reply: a run would make network calls its timeout does not
bound, and a workflow could read any file. Here every reference of every output schema is resolved
when the workflow is loaded, through a `referencing` registry whose retrieve function reads only
files named relative to the workflow's folder and inside it; anything else is refused then, with
exit 2. The registry that results holds those files, and validation at run time uses it with a
retrieve function that refuses everything: nothing is fetched or read after load.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from referencing import Registry, Resource
from referencing.exceptions import NoSuchAnchor, PointerToNowhere, Unresolvable
from referencing.jsonschema import DRAFT202012, specification_with

__all__ = ["LocalSchemas", "RefRefused", "refusing_registry", "resolve_refs"]


class RefRefused(Exception):
    """A `$ref` that podium will not follow; the message says which and why."""


def _resource(contents: Any) -> Resource[Any]:
    # the draft a schema declares, else the one jsonschema validates with by default
    spec = DRAFT202012
    if isinstance(contents, Mapping) and isinstance(contents.get("$schema"), str):
        spec = specification_with(contents["$schema"], default=DRAFT202012)
    return spec.create_resource(contents)


def _refuse(uri: str) -> Resource[Any]:
    raise RefRefused(f"'{uri}' was not resolved when the workflow was loaded; podium fetches no schema")


def refusing_registry() -> Registry[Any]:
    """A registry that retrieves nothing: for a workflow made in code, every remote `$ref` fails."""
    return Registry(retrieve=_refuse)  # type: ignore[call-arg]


class LocalSchemas:
    """The schema files next to a workflow that its `$ref`s name: read at load time, then frozen.

    `retrieve` (load time) reads a file named relative to the workflow's folder and inside it, and
    refuses anything else; `registry()` (run time) serves only what was read, and refuses the rest.
    """

    def __init__(self, base_dir: Path) -> None:
        self.folder = base_dir.resolve()
        self.read: dict[str, Resource[Any]] = {}

    def __eq__(self, other: object) -> bool:
        # a Workflow compares its private attributes too: two loads of one file are equal
        if not isinstance(other, LocalSchemas):
            return NotImplemented
        return (self.folder, self.read) == (other.folder, other.read)

    __hash__ = None  # type: ignore[assignment]

    def retrieve(self, uri: str) -> Resource[Any]:
        if uri in self.read:
            return self.read[uri]
        parts = urlsplit(uri)
        if parts.scheme or parts.netloc or uri.startswith("/"):
            raise RefRefused("not a local reference: podium fetches no schema")
        path = (self.folder / unquote(parts.path)).resolve()
        if not path.is_relative_to(self.folder):
            raise RefRefused("the file is outside the workflow's folder")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise RefRefused(f"cannot read {path.name} next to the workflow ({reason})") from None
        try:
            if path.suffix in (".yaml", ".yml"):
                from podium.core.loader.positions import _plain, yaml_reader

                contents = _plain(yaml_reader().load(text), (), {})
            else:
                contents = json.loads(text)
        except Exception as exc:  # malformed JSON or YAML, or a bomb refused by the YAML reader
            raise RefRefused(f"{path.name} is not a JSON or YAML schema ({exc})") from None
        self.read[uri] = resource = _resource(contents)
        return resource

    def _frozen(self, uri: str) -> Resource[Any]:
        if uri in self.read:
            return self.read[uri]
        return _refuse(uri)

    def registry(self) -> Registry[Any]:
        """What validation at run time resolves with: the files read at load time, and nothing else."""
        return Registry(retrieve=self._frozen)  # type: ignore[call-arg]


def _refs(resource: Resource[Any]) -> Iterator[tuple[Resource[Any], str]]:
    """Every (subschema, $ref) in a schema, walked by the keywords its draft defines."""
    stack = [resource]
    while stack:
        sub = stack.pop()
        contents = sub.contents
        if isinstance(contents, Mapping):
            for keyword in ("$ref", "$dynamicRef"):
                if isinstance(contents.get(keyword), str):
                    yield sub, contents[keyword]
        stack.extend(reversed(list(sub.subresources())))


def _refused(exc: BaseException) -> str:
    if isinstance(exc, PointerToNowhere | NoSuchAnchor):
        return "it points to nothing in the schema"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, RefRefused):
            return str(cause)
        cause = cause.__cause__
    return str(exc)


def resolve_refs(schemas: Mapping[str, Any], local: LocalSchemas) -> dict[str, str]:
    """Resolve every `$ref` in `schemas` now, reading only local files (kept in `local`).

    Returns a problem by the name of each schema that has one: a remote or absolute reference, a
    file outside the workflow's folder or not there, a pointer into nothing.
    """
    problems: dict[str, str] = {}
    for where, schema in schemas.items():
        root = _resource(schema)
        registry: Registry[Any] = Registry(retrieve=local.retrieve)  # type: ignore[call-arg]
        pending = [(registry.resolver_with_root(root), root)]
        walked: set[int] = {id(schema)}
        while pending and where not in problems:
            resolver, resource = pending.pop()
            for sub, ref in _refs(resource):
                try:
                    resolved = resolver.in_subresource(sub).lookup(ref)
                except Unresolvable as exc:
                    problems[where] = f"$ref {ref!r}: {_refused(exc)}"
                    break
                # what a ref lands on (in a file just read, say) may hold refs of its own
                if isinstance(resolved.contents, Mapping) and id(resolved.contents) not in walked:
                    walked.add(id(resolved.contents))
                    pending.append((resolved.resolver, _resource(resolved.contents)))
    return problems
