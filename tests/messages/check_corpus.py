"""Check the hand-written message corpus against the official OCPP JSON schemas.

    python tests/messages/check_corpus.py [--schemas DIR] [VERSION ...]

The corpus is one file per version (v16.json, v201.json, v21.json next to this script), mapping
each action name to {"request": [...], "response": [...]}. For every version this checks that:

- every action with a schema pair (1.6: <Action>.json and <Action>Response.json; 2.x:
  <Action>Request.json and <Action>Response.json) is in the corpus, with both keys and at least
  one example under each;
- the one 2.1 SEND message, NotifyPeriodicEventStream (a lone schema, no response), is there with
  request examples and an empty response list;
- no action is in the corpus that has no schema;
- every example is valid under its schema, with the validator class of the schema's own "$schema"
  draft and that class's FORMAT_CHECKER (date-time is checked through rfc3339-validator).

Every failure is printed; the exit status is 1 if there was any, else 0.

The schemas are looked up in --schemas, else in $OCPPFAST_SCHEMAS, else in the repository's
ocppfast/schemas/json, else in /work/shared/ocpp-spec/schemas; each holds v16/, v201/ and v21/.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.validators import validator_for

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
VERSIONS = ("v16", "v201", "v21")
SCHEMA_DIRS = (REPO / "ocppfast" / "schemas" / "json", Path("/work/shared/ocpp-spec/schemas"))


def schema_root(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("OCPPFAST_SCHEMAS")
    if env:
        return Path(env)
    for candidate in SCHEMA_DIRS:
        if (candidate / "v16").is_dir():
            return candidate
    raise SystemExit("no schema directory found; pass --schemas DIR")


def schema_files(version_dir: Path, version: str) -> dict[str, dict[str, Path | None]]:
    """Map each action to the schema file of its request and of its response (None if none)."""
    names = {path.stem: path for path in version_dir.glob("*.json")}
    actions: dict[str, dict[str, Path | None]] = {}
    for stem, path in names.items():
        if version == "v16":
            if stem.endswith("Response"):
                continue
            actions[stem] = {"request": path, "response": names.get(stem + "Response")}
        elif stem.endswith("Request"):
            action = stem[: -len("Request")]
            actions[action] = {"request": path, "response": names.get(action + "Response")}
        elif not stem.endswith("Response"):
            # A SEND message (2.1 NotifyPeriodicEventStream): one schema, no response.
            actions[stem] = {"request": path, "response": None}
    for stem in names:
        if stem.endswith("Response") and stem[: -len("Response")] not in actions:
            actions[stem[: -len("Response")]] = {"request": None, "response": names[stem]}
    return actions


def make_validator(path: Path) -> jsonschema.protocols.Validator:
    schema = json.loads(path.read_text(encoding="utf-8"))
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def check_version(root: Path, version: str) -> tuple[list[str], dict[str, int]]:
    failures: list[str] = []
    counts = {"actions": 0, "request": 0, "response": 0}
    corpus_path = HERE / f"{version}.json"
    try:
        corpus: dict[str, Any] = json.loads(corpus_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return [f"{version}: cannot read {corpus_path}: {error}"], counts
    if not isinstance(corpus, dict):
        return [f"{version}: the corpus is not a JSON object"], counts

    actions = schema_files(root / version, version)
    for action in sorted(set(corpus) - set(actions)):
        failures.append(f"{version} {action}: in the corpus but no schema has that name")

    for action, files in sorted(actions.items()):
        if files["request"] is None:
            failures.append(f"{version} {action}: a Response schema without its request")
            continue
        entry = corpus.get(action)
        if entry is None:
            failures.append(f"{version} {action}: missing from the corpus")
            continue
        if not isinstance(entry, dict) or set(entry) != {"request", "response"}:
            failures.append(f"{version} {action}: must be an object with keys request, response")
            continue
        counts["actions"] += 1
        for kind in ("request", "response"):
            examples = entry[kind]
            path = files[kind]
            if not isinstance(examples, list):
                failures.append(f"{version} {action} {kind}: not a list")
                continue
            if path is None:
                if examples:
                    failures.append(f"{version} {action} {kind}: no schema, so must be []")
                continue
            if not examples:
                failures.append(f"{version} {action} {kind}: no examples")
                continue
            validator = make_validator(path)
            for index, example in enumerate(examples):
                counts[kind] += 1
                errors = sorted(validator.iter_errors(example), key=lambda e: list(e.path))
                for error in errors:
                    where = "/".join(str(part) for part in error.absolute_path) or "(root)"
                    failures.append(
                        f"{version} {action} {kind}[{index}] at {where}: {error.message[:300]}"
                    )
    return failures, counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schemas", help="directory holding v16/, v201/ and v21/")
    parser.add_argument("versions", nargs="*", metavar="VERSION", help="v16, v201 or v21")
    args = parser.parse_args(argv)
    for version in args.versions:
        if version not in VERSIONS:
            parser.error(f"unknown version {version!r}; choose from {', '.join(VERSIONS)}")
    root = schema_root(args.schemas)
    total = 0
    for version in args.versions or VERSIONS:
        failures, counts = check_version(root, version)
        for failure in failures:
            print(f"FAIL {failure}")
        total += len(failures)
        print(
            f"{version}: {counts['actions']} actions, {counts['request']} request and "
            f"{counts['response']} response examples, {len(failures)} failures"
        )
    print("OK" if total == 0 else f"{total} failures")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
