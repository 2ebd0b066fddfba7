"""Who may call the HTTP API: a table of token digests, checked in constant time.

The table holds SHA-256 digests, never the tokens themselves, so the Serve
replica (and the deployment's arguments, which Ray stores) never keep a usable
secret. Every digest is compared with ``hmac.compare_digest`` and the loop never
stops early, so neither the position nor a prefix of a valid token shows in the
time an answer takes.

With no ``api_tokens`` configured, ``faber-ray serve`` generates a token and
writes it to a file only the current user can read (:func:`write_token_file`):
the API never runs open.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from faber_ray.config import TokenGrant
from faber_ray.errors import ConfigurationError
from faber_ray.hostpath import cache_dir

__all__ = [
    "Caller", "TokenTable", "digest", "generate_token", "read_token_file", "token_file_path", "user_name_for",
    "write_token_file",
]


def digest(token: str) -> str:
    """The hex SHA-256 of a token: what the table keeps."""
    return hashlib.sha256(token.encode("utf-8", errors="surrogatepass")).hexdigest()


def user_name_for(token: str) -> str:
    """The user name of a token given without one: stable, and revealing nothing of the token."""
    return f"token-{digest(token)[:8]}"


def generate_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Caller:
    """Who is calling: the user a token acts as (it sees only that user's tasks), and whether it is an admin."""

    user: str
    admin: bool = False
    priority: int = 0  #: the highest priority it may ask for

    def priority_for(self, asked: int | None = None) -> int:
        """The priority a request runs at: what it asked for (default 0), never above the token's."""
        return min(0 if asked is None else asked, self.priority)


@dataclass(frozen=True)
class TokenTable:
    """``(digest, caller)`` pairs; picklable, so it travels to the Serve replica as it is."""

    entries: tuple[tuple[str, Caller], ...]

    @classmethod
    def from_tokens(cls, tokens: Sequence[str] | Mapping[str, str | TokenGrant | Mapping[str, object]]) -> TokenTable:
        """From ``ExecutorConfig.api_tokens``: a list of tokens, or a mapping of token to a user name or a grant."""
        pairs: list[tuple[str, Caller]] = []
        if isinstance(tokens, Mapping):
            for token, grant in tokens.items():
                if isinstance(grant, str):
                    pairs.append((digest(token), Caller(grant)))
                else:
                    granted = grant if isinstance(grant, TokenGrant) else TokenGrant.model_validate(grant)
                    pairs.append((digest(token), Caller(granted.user, granted.admin, granted.priority)))
        else:
            pairs = [(digest(token), Caller(user_name_for(token))) for token in tokens]
        if not pairs:
            raise ConfigurationError("no API token is configured, so no request could be served", field="api_tokens")
        return cls(tuple(pairs))

    def caller(self, presented: str | None) -> Caller | None:
        """Who a presented token acts as, or None if it is not one of ours."""
        if not presented:
            return None
        wanted = digest(presented)
        found: Caller | None = None
        for known, caller in self.entries:  # no early exit: the time does not say which entry matched
            if hmac.compare_digest(known, wanted):
                found = caller
        return found

    def default_priority(self, user: str) -> int:
        """The priority of a request that cannot ask for one (Judge0's): 0, or below it when every token
        of ``user`` is capped below it."""
        return min(0, max((caller.priority for _, caller in self.entries if caller.user == user), default=0))

    def user(self, presented: str | None) -> str | None:
        """The user name of a presented token, or None if it is not one of ours."""
        caller = self.caller(presented)
        return caller.user if caller else None


def token_file_path(port: int) -> Path:
    """Where ``serve`` writes a generated token: faber-ray's private cache, one file per port."""
    return cache_dir("serve") / f"api-token-{port}"


def read_token_file(path: Path) -> str | None:
    """The token a former ``serve`` saved at ``path``, or None if there is none worth trusting: the file
    must be a regular file of ours that nobody else can read (it is opened without following a link)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd) as stream:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
            return None
        token = stream.read(4096).strip()
    return token if len(token) >= 8 and token.isprintable() else None


def write_token_file(token: str, path: Path) -> Path:
    """Write ``token`` to ``path`` with mode 0600, in a directory that ``cache_dir`` checked is ours.

    The file is replaced, never followed: an old file or a link in its place is
    removed first and the new one is created exclusively.
    """
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as stream:
        stream.write(token + "\n")
    return path
