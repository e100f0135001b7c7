"""No secret in plaintext anywhere in a stack file.

Two shapes of leak are refused: credentials inside a URL (`https://user:pass@host`), and a
plaintext value under a key that names a secret (password, token, private key...) that is
not Pulumi's encrypted `secure:` form (a number counts: a PIN is a secret). Booleans,
empty values and references (`${...}` interpolation) are not secrets. The fix is always
the same command: `pulumi config set --secret`.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

# A key names a secret when one of its words is one of these (or two adjacent words are).
_SECRET_WORDS = {"password", "passwd", "pwd", "passphrase", "secret", "token", "apikey", "psk", "credential",
                 "credentials", "privatekey"}
_SECRET_PAIRS = {("api", "key"), ("private", "key"), ("access", "key"), ("shared", "key"), ("pre", "shared")}
# ... unless its last word says the value is about the secret, not the secret itself.
_ABOUT_A_SECRET = {"ttl", "file", "path", "ref", "reference", "name", "names", "env", "length", "id", "enabled",
                   "rotation", "days", "type", "policy", "arn", "version", "secure", "store", "backend", "url",
                   "endpoint", "kind", "mode", "hours", "seconds"}
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")


def _words(key: str) -> list[str]:
    """`dbPassword` -> [db, password]; `api-key` -> [api, key]; `app:ssh.privateKey` -> [..., private, key]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", key)
    return [word for word in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if word]


def names_a_secret(key: str) -> bool:
    words = _words(key)
    if not words or words[-1] in _ABOUT_A_SECRET:
        return False
    return bool(_SECRET_WORDS & set(words)) or any(pair in _SECRET_PAIRS for pair in zip(words, words[1:]))


def _is_plaintext(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip()) and not value.strip().startswith("${")
    return isinstance(value, (int, float))


def url_credentials(text: str) -> list[str]:
    """URLs in `text` that carry credentials: a password, or any user part in an http(s) URL (tokens go there)."""
    found = []
    for url in _URL.findall(text):
        parts = urlsplit(url)
        if "@" not in parts.netloc:
            continue
        if parts.password or parts.scheme in ("http", "https"):
            found.append(url)
    return found


def _redact(url: str) -> str:
    parts = urlsplit(url)
    return url.replace(parts.netloc.rsplit("@", 1)[0] + "@", "***@", 1)


def _walk(value: Any, path: tuple) -> Iterator[tuple[tuple, Any]]:
    """Every value under `value` with its path: mapping keys as str, list positions as int."""
    yield path, value
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return  # Pulumi's encrypted form
        for key, item in value.items():
            yield from _walk(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, (*path, index))


def _pulumi_path(config_key: str, path: tuple) -> str:
    """`pulumi config set --path` syntax: app:db.hosts[0].password."""
    return config_key + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


def secret_problems(value: Any, config_key: str | None, readable: Callable[[tuple], str]) -> list[tuple[str, str]]:
    """Every plaintext secret under `value` (the value of a stack config key), each at its
    `readable` dotted path. `config_key` is None for the platform spec, which holds no
    secrets at all; for any other key the fix is the `pulumi config set --secret` that
    stores the value encrypted."""
    problems = []
    for path, item in _walk(value, ()):
        if config_key is None:
            fix = ("the platform spec holds no credentials: OpenStack's live in clouds.yaml (cloud.profile), "
                   "others as Pulumi secrets (pulumi config set --secret <key> <value>)")
        else:
            target = _pulumi_path(config_key, path) if path else config_key
            fix = f"store it encrypted: pulumi config set --secret {'--path ' if path else ''}'{target}' <value>"
        if isinstance(item, str):
            for url in url_credentials(item):
                problems.append((readable(path), f"the URL '{_redact(url)}' carries credentials in plaintext; "
                                                 f"remove them from it; {fix}"))
        key = path[-1] if path and isinstance(path[-1], str) else (config_key if not path else None)
        if key and names_a_secret(key) and _is_plaintext(item):
            problems.append((readable(path), f"'{key}' holds a secret in plaintext; {fix}"))
    return problems
