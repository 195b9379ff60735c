"""Helpers for the Docker tests: reading a Dockerfile, Docker's .dockerignore rules, image
references and published ports. Pure functions, except context_files (asks git)."""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

# A tag that names one release: digits and dots (at least major.minor.patch), optionally with a
# leading "v" and a suffix such as "-pg16" or "-slim-bookworm". Floating tags ("latest", "2",
# "3.11-slim") are not pins.
PINNED_TAG = re.compile(r"^v?\d+\.\d+\.\d+(?:[-.+][A-Za-z0-9.\-]+)?$")


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)


@dataclass
class Dockerfile:
    args: dict[str, str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(f"no stage named {name!r}")

    def resolve(self, text: str) -> str:
        """Expand ${ARG} / $ARG references to the global ARG defaults."""
        return re.sub(
            r"\$\{(\w+)\}|\$(\w+)",
            lambda m: self.args.get(m.group(1) or m.group(2), m.group(0)),
            text,
        )

    def lineage(self, name: str) -> list[Stage]:
        """The stage and the stages it is built FROM, nearest first."""
        chain = [self.stage(name)]
        names = {stage.name for stage in self.stages}
        while chain[-1].base in names:
            chain.append(self.stage(chain[-1].base))
        return chain


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Instructions joined across backslash continuations, with their first line number."""
    result: list[tuple[int, str]] = []
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer.append(stripped[:-1].strip())
            continue
        buffer.append(stripped)
        result.append((start, " ".join(part for part in buffer if part)))
        buffer = []
    if buffer:
        result.append((start, " ".join(buffer)))
    return result


def parse_dockerfile(text: str) -> Dockerfile:
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for number, line in logical_lines(text):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
        elif keyword == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name, line=number))
        elif stages:
            stages[-1].instructions.append(Instruction(keyword, rest, number))
        else:
            raise ValueError(f"line {number}: {keyword} before the first FROM")
    return Dockerfile(args=args, stages=stages)


def copy_sources(instruction: Instruction) -> list[str] | None:
    """Build-context sources of a COPY/ADD (None when it copies from another stage/image)."""
    words = shlex.split(instruction.args)
    if any(word.startswith("--from=") for word in words):
        return None
    words = [word for word in words if not word.startswith("--")]
    if words and words[0].startswith("["):
        words = [w.strip('[]",') for w in instruction.args.split('"') if w.strip('[]", ')]
    return words[:-1]


def split_image(reference: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of an image reference."""
    digest = None
    if "@" in reference:
        reference, digest = reference.split("@", 1)
    last = reference.rsplit("/", 1)[-1]
    if ":" in last:
        repository, tag = reference.rsplit(":", 1)
        return repository, tag, digest
    return reference, None, digest


def is_pinned(reference: str) -> bool:
    _, tag, digest = split_image(reference)
    if digest:
        return True
    return tag is not None and PINNED_TAG.match(tag) is not None


# --- .dockerignore (Docker's rules: patterns are matched against the path and every parent, the
# last matching pattern decides, "!" re-includes, "**" spans any number of directories) ---------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
                out.append("(?:.*/)?")
            else:
                out.append(".*")
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("^" + "".join(out) + "$")


def parse_dockerignore(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:].strip() if negate else line
        pattern = pattern.strip("/")
        if pattern.startswith("./"):
            pattern = pattern[2:]
        rules.append((negate, _pattern_regex(pattern)))
    return rules


def is_ignored(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether the build context leaves out `path` (relative, '/'-separated)."""
    parts = Path(path).parts
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for negate, regex in rules:
        if any(regex.match(candidate) for candidate in candidates):
            ignored = not negate
    return ignored


def context_files(root: Path, source: str) -> list[str]:
    """Files of the repository under a COPY source (file or directory), relative to the root:
    tracked files and new ones git does not ignore (build artefacts such as *.egg-info are not
    part of a checkout, so they do not count)."""
    result = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", source],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(line for line in result.stdout.splitlines() if (root / line).is_file())


def published_host_ports(service: dict) -> list[tuple[str, int, str]]:
    """(host ip, host port, protocol) of every port a rendered service publishes."""
    result = []
    for port in service.get("ports", []):
        published = port.get("published")
        if published in (None, ""):
            continue
        result.append((port.get("host_ip", ""), int(published), port.get("protocol", "tcp")))
    return result
