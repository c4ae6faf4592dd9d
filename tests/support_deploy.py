"""Readers for the deployment files, for tests that run without Docker or Caddy: a Caddyfile
block parser and a `.dockerignore` matcher (Docker's rules: the last matching pattern wins, `!`
re-includes, a pattern that matches a directory covers everything in it, `**` spans directories)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ENV_PLACEHOLDER = re.compile(r"\{\$([A-Z0-9_]+)(?::([^}]*))?\}")


@dataclass
class Directive:
    """One Caddyfile line (its tokens) and the block that follows it, if any."""

    tokens: list[str]
    block: list[Directive] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.tokens[0] if self.tokens else ""

    def find(self, name: str) -> list[Directive]:
        return [child for child in self.block if child.name == name]

    def one(self, name: str) -> Directive:
        [found] = self.find(name)
        return found


def with_env_defaults(text: str, env: dict[str, str] | None = None) -> str:
    """Replace `{$NAME:default}` as Caddy does at start: by `env[NAME]`, else the default."""
    values = env or {}
    return ENV_PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(2) or ""), text)


def parse_caddyfile(text: str, env: dict[str, str] | None = None) -> list[Directive]:
    """Top-level blocks (global options, sites); comments dropped, placeholders resolved."""
    root = Directive(["<root>"])
    stack = [root]
    for raw in with_env_defaults(text, env).splitlines():
        lexer = shlex.shlex(raw, posix=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens = list(lexer)
        if not tokens:
            continue
        opens = tokens[-1] == "{"
        if opens:
            tokens = tokens[:-1]
        if tokens == ["}"]:
            stack.pop()
            continue
        directive = Directive(tokens)
        stack[-1].block.append(directive)
        if opens:
            stack.append(directive)
    assert len(stack) == 1, "unbalanced braces in the Caddyfile"
    return root.block


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out, index = "", 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out, index = out + "(?:.*/)?", index + 3
        elif pattern.startswith("**", index):
            out, index = out + ".*", index + 2
        elif pattern[index] == "*":
            out, index = out + "[^/]*", index + 1
        elif pattern[index] == "?":
            out, index = out + "[^/]", index + 1
        else:
            out, index = out + re.escape(pattern[index]), index + 1
    return re.compile(out + r"\Z")


@dataclass
class DockerIgnore:
    rules: list[tuple[re.Pattern[str], bool]]  # (pattern, is an exception)

    @classmethod
    def read(cls, path: Path) -> DockerIgnore:
        rules = []
        for line in path.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            exception = line.startswith("!")
            pattern = line.removeprefix("!").strip().strip("/")
            rules.append((_pattern_regex(pattern), exception))
        return cls(rules)

    def excludes(self, relative_path: str) -> bool:
        parts = relative_path.strip("/").split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        excluded = False
        for regex, exception in self.rules:
            if any(regex.match(prefix) for prefix in prefixes):
                excluded = not exception
        return excluded
