"""Who is acting. Services take an Actor so that the audit log can name them by a
pseudonymous id, never by a username, email or raw subject reference."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ActorKind = Literal["consumer", "compliance", "platform", "manufacturer", "operator", "system", "anonymous"]


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    id: str

    @classmethod
    def system(cls, name: str = "clearinghouse") -> Actor:
        return cls(kind="system", id=name)

    @classmethod
    def operator(cls, name: str = "manage.py") -> Actor:
        return cls(kind="operator", id=name)

    @classmethod
    def anonymous(cls) -> Actor:
        return cls(kind="anonymous", id="")
