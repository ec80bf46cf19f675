"""Prediction ids that prove where they came from: ``POST /feedback`` knows an id it never issued.

An id is a UUID (version 8, RFC 9562's layout for custom ids, so it reads as any UUID): 74 random bits,
then a 48-bit tag, HMAC-SHA256 over the model's name and the random part under the stage's prediction
key, which only the inference functions can read (a Secrets Manager secret). Checking an id is one HMAC,
no lookup: no table written per prediction, no read per label, and it works the moment the id is issued
(captures reach S3 a minute or more later, so a lookup there could not).

- A guessed id passes with probability 2**-48 (about 3.6e-15) per guess; an id of another model of the
  stage, or a random UUID, fails.
- 74 random bits: two of a model's ids collide with even odds only after about 2**37 (1.4e11) predictions.
- What it does not prove: that the prediction was captured (capture is best effort, counted in
  ``CaptureFailures``); the feedback join still quarantines a label whose capture never arrived.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

__all__ = ["issue", "was_issued"]

_RANDOM_BYTES = 10  # of which the version and variant bits take 6: 74 random bits
_TAG_BYTES = 6
_VERSION = 8


def _tag(key: bytes, model: str, head: bytes) -> bytes:
    return hmac.new(key, model.encode() + b"\x00" + head, hashlib.sha256).digest()[:_TAG_BYTES]


def issue(key: bytes, model: str) -> str:
    """A new prediction id of ``model``, tagged under ``key``."""
    head = bytearray(secrets.token_bytes(_RANDOM_BYTES))
    head[6] = (head[6] & 0x0F) | (_VERSION << 4)
    head[8] = (head[8] & 0x3F) | 0x80  # RFC 9562 variant
    return str(uuid.UUID(bytes=bytes(head) + _tag(key, model, bytes(head))))


def was_issued(key: bytes, model: str, prediction_id: uuid.UUID) -> bool:
    """Whether ``prediction_id`` is one that :func:`issue` gave for ``model`` under ``key``."""
    raw = prediction_id.bytes
    if prediction_id.version != _VERSION:
        return False
    return hmac.compare_digest(raw[_RANDOM_BYTES:], _tag(key, model, raw[:_RANDOM_BYTES]))
