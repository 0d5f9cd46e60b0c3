"""Chat records (LMSYS-Chat-1M style) rendered as one training text per conversation.

A record holds ``conversation: [{"role": "user"|"assistant"|..., "content": str}, ...]``. We render it as

    User: <content>

    Assistant: <content>

i.e. ``"<Role>: <content>"`` turns joined by one blank line, roles capitalised (``system`` → ``System``,
unknown roles keep their own name capitalised). This plain format is tokenizer-agnostic on purpose: the SAE
sees the same text whether the base model has a chat template or not, and the PII probe's character
offsets point into exactly this string.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiln_sae.errors import DataError

TURN_SEPARATOR = "\n\n"
_ROLE_NAMES = {"user": "User", "human": "User", "assistant": "Assistant", "gpt": "Assistant", "system": "System"}


def role_label(role: str) -> str:
    return _ROLE_NAMES.get(role.lower(), role[:1].upper() + role[1:])


def render_conversation(conversation: Any, where: str) -> str:
    """Render a ``conversation`` list as one text; ``where`` ("file:line") names the record in errors."""
    if not isinstance(conversation, list):
        raise DataError(f"{where}: 'conversation' must be a list of {{role, content}} objects, got "
                        f"{type(conversation).__name__}")
    turns: list[str] = []
    for i, turn in enumerate(conversation):
        if not isinstance(turn, Mapping):
            raise DataError(f"{where}: conversation[{i}] must be an object with 'role' and 'content'")
        role, content = turn.get("role"), turn.get("content")
        if not isinstance(role, str) or not isinstance(content, str):
            raise DataError(f"{where}: conversation[{i}] needs string 'role' and 'content' "
                            f"(got role={type(role).__name__}, content={type(content).__name__})")
        if content.strip():
            turns.append(f"{role_label(role)}: {content}")
    return TURN_SEPARATOR.join(turns)
