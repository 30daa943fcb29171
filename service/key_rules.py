"""Which keys FACEVER_API_KEYS may register: `role:key` pairs, keys long enough, never a published example."""

from __future__ import annotations

from typing import Literal

Role = Literal["admin", "client"]
ROLES: tuple[Role, ...] = ("admin", "client")
MIN_KEY_CHARS = 16  # generated keys have 46; a short key can be guessed
# placeholders that appear (or appeared) in facever's examples: anyone who read the docs knows them
EXAMPLE_KEYS = frozenset({"change-me", "change-me-too", "changeme", "s3cret", "secret", "k1", "k2", "password"})
HOW_TO_MAKE_ONE = "make one with `openssl rand -hex 24` or `facever keys create`"


def parse_key_list(text: str) -> list[tuple[Role, str]]:
    """FACEVER_API_KEYS "admin:KEY1,client:KEY2" -> [(role, key)]; a refused entry is a ValueError saying why.

    The error names the role and the position of the entry, never the key itself (it may end up in a log).
    """
    pairs: list[tuple[Role, str]] = []
    for number, entry in enumerate(filter(None, (item.strip() for item in text.split(","))), start=1):
        role, _, key = entry.partition(":")
        where = f"entry {number}"
        if role not in ROLES:
            raise ValueError(f"{where} must be role:key with a role in {ROLES}")
        if key.lower() in EXAMPLE_KEYS:
            raise ValueError(f"{where} ({role}) is an example key from the documentation; {HOW_TO_MAKE_ONE}")
        if len(key) < MIN_KEY_CHARS:
            raise ValueError(f"{where} ({role}) is shorter than {MIN_KEY_CHARS} characters; {HOW_TO_MAKE_ONE}")
        pairs.append((role, key))
    return pairs
