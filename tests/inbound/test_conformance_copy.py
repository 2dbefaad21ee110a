"""Our copy of the public conformance example is the published one, byte for byte (the
original sits in ../shared/conformance/ beside the project; skipped where it does not)."""
from __future__ import annotations

import pytest

from tests.inbound.conftest import DAVINCI_EXAMPLE, PROJECT

ORIGINAL = PROJECT.parent / "shared" / "conformance" / DAVINCI_EXAMPLE.name


@pytest.mark.skipif(not ORIGINAL.exists(), reason="../shared/conformance/ is not beside the "
                                                  "project")
def test_the_copy_is_the_published_example() -> None:
    assert DAVINCI_EXAMPLE.read_bytes() == ORIGINAL.read_bytes()
