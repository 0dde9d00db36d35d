"""Words under a content key (core/crypto/shred.py), byte-exact: tests/vectors/keyed.json, which
tests/vectors/make_vectors.py computes from the primitives as docs/protocol.md states them.
The code must reproduce every value, refuse each invalid case the same opaque way, and the
vector in docs/protocol.md must be the committed one."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from tend.core.crypto import shred
from tend.core.domain.codec import decode_event
from tend.core.domain.events import Keyed
from tend.core.errors import InvalidEnvelope
from tend.core.log import forgetting

VECTORS = Path(__file__).resolve().parent / "vectors"
V: dict[str, Any] = json.loads((VECTORS / "keyed.json").read_text(encoding="utf-8"))
DOC = (Path(__file__).resolve().parent.parent / "docs" / "protocol.md").read_text(encoding="utf-8")


def b(name: str, case: dict[str, Any] | None = None) -> bytes:
    return bytes.fromhex((case or {}).get(name) or V[name])


def test_the_box_the_sidecar_and_the_forget_token_are_reproduced_exactly() -> None:
    space, event_id, content_key = b("space"), b("event_id"), b("content_key")
    assert shred.seal_words(content_key, b("words"), space, event_id) == b("box")
    assert shred.open_words(content_key, b("box"), space, event_id) == b("words")
    assert shred.wrap(b("space_key"), b("entry_hash"), content_key) == b("sidecar")
    assert shred.unwrap(b("space_key"), b("entry_hash"), b("sidecar")) == content_key
    token = shred.forget_token(b("private_key"), event_id)
    assert token == b("forget_token")
    assert forgetting.token_hash(token) == b("forget_token_hash")
    assert forgetting.key_record(b("sidecar"), b("forget_token_hash")) == b("key_record")
    assert len(b("sidecar")) == shred.SIDECAR_LEN == 48 and len(b("key_record")) == 80


def test_the_outer_event_of_a_keyed_entry_decodes_to_its_kind_and_box() -> None:
    outer = decode_event(b("outer_event"))
    assert outer.body == Keyed(kind="gratitude", box=b("box"))


@pytest.mark.parametrize("case", V["invalid"], ids=lambda c: c["name"])
def test_every_invalid_case_fails_to_unwrap_the_same_way(case: dict[str, Any]) -> None:
    with pytest.raises(InvalidEnvelope):
        shred.unwrap(b("space_key", case), b("entry_hash", case), b("sidecar", case))


def test_a_box_opens_only_for_its_own_event_id() -> None:
    with pytest.raises(InvalidEnvelope):
        shred.open_words(b("content_key"), b("box"), b("space"), bytes(16))


def test_the_committed_json_is_what_make_vectors_writes() -> None:
    spec = importlib.util.spec_from_file_location("make_vectors", VECTORS / "make_vectors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.dump(module.build_keyed_vectors()) == (VECTORS / "keyed.json").read_text(
        encoding="utf-8"
    )


def test_the_keyed_vector_in_docs_protocol_md_is_the_committed_one() -> None:
    flat = "".join(DOC.split())
    for name in ("sidecar", "forget_token_hash", "box"):
        assert V[name] in flat, name
