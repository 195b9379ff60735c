"""No password, private key or token is committed: every file git tracks is scanned (placeholders
in .env.example files, which document the secrets a deployment must supply, excepted)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----")
TOKENS = {
    "AWS access key id": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
}
# A quoted literal given to something named like a secret: password = "hunter22".
QUOTED = re.compile(
    r"""(?i)\b\w*(?:password|passwd|secret|token|api_?key)\w*["']?\s*[:=]\s*["']([^"'\s]{6,})["']"""
    r"(?!\s*\+)"  # "prefix-" + uuid: built at run time
)
# KEY=value lines (env files, shell): a secret-named variable with a literal value.
ASSIGNED = re.compile(r"(?im)^\s*(?:export\s+)?\w*(?:PASSWORD|SECRET|TOKEN)\w*=([^\s#]+)")
# Values that are not secrets: references, placeholders, and the names of things.
NOT_A_SECRET = re.compile(
    r"""^(?:\$|<|\{|%|\*|settings\.|os\.|cfg\.|env\.|self\.|secrets\.|example|change-?me|placeholder|
    x+$|\.\.\.|REDACTED|redacted|not-the-password|wrong|test-only|scram-sha-256$|[A-Z][A-Z0-9_]*$)""",
    re.X,
)
# The development passwords the native stack once had written in its source: never again.
RETIRED = ("iot_password", "apicurio_password")
SKIP_SUFFIXES = {".png", ".jpg", ".ico", ".pdf", ".gz", ".zip", ".jar", ".bin", ".avro"}


def tracked_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode()
    return [REPO / name for name in out.split("\0") if name]


def findings(path: Path, text: str) -> list[str]:
    """What in ``text`` looks like a committed secret (pure: the file's name and content)."""
    found = ["private key" for _ in PRIVATE_KEY.finditer(text)]
    found += [name for name, pattern in TOKENS.items() if pattern.search(text)]
    found += [f"retired password {word}" for word in RETIRED if word in text]
    if path.name.endswith(".env.example"):
        return found  # documents the variables; values are placeholders by design
    values = [m.group(1) for m in QUOTED.finditer(text)]
    if path.suffix in ("", ".env", ".sh", ".txt", ".conf", ".example", ".properties"):
        values += [m.group(1).strip("'\"") for m in ASSIGNED.finditer(text)]
    found += [f"literal secret {v[:3]}…" for v in values if v and not NOT_A_SECRET.match(v)]
    return found


def test_no_password_private_key_or_token_is_committed() -> None:
    this = Path(__file__).resolve()
    problems = []
    for path in tracked_files():
        if path.suffix in SKIP_SUFFIXES or path.resolve() == this or not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        problems += [f"{path.relative_to(REPO)}: {what}" for what in findings(path, text)]
    assert not problems, "\n".join(problems)


def test_the_scanner_finds_what_it_is_meant_to_find() -> None:
    key = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n"
    assert findings(Path("k.pem"), key) == ["private key"]
    assert findings(Path("a.py"), 'DB_PASSWORD = "hunter2hunter2"')
    assert findings(Path("a.yml"), "password: 's3cr3t-value'")
    assert findings(Path(".env"), "POSTGRES_PASSWORD=hunter2hunter2\n")
    assert findings(Path("a.py"), 'token = "ghp_' + "a" * 36 + '"')
    assert findings(Path("README.md"), "password `iot_password`")
    assert not findings(Path("a.py"), 'password = os.environ["POSTGRES_PASSWORD"]')
    assert not findings(Path("a.yml"), 'password: "${POSTGRES_PASSWORD}"')
    assert not findings(Path("docker/.env.example"), "POSTGRES_PASSWORD=change-me\n")
    assert not findings(Path(".env"), "POSTGRES_PASSWORD=\n")
    assert not findings(Path("a.py"), 'PASSWORD = "prefix-" + uuid.uuid4().hex')
    assert not findings(Path("a.py"), 'password = "test-only-fixture"')
