"""Session-scoped access to the project's fixtures (see tests/fixturelib.py).

Every factory memoises by its arguments, so a Rust fixture is built once per session
no matter how many tests ask for it. Tests may also import fixturelib directly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import fixturelib


@pytest.fixture(scope="session")
def fixture_wasm():
    """fixture_wasm("heavy", profile=..., config=..., mangling="v0", ...) -> .wasm Path.

    Same arguments as fixturelib.build_crate (a bare name means fixtures/crates/NAME).
    """
    return fixturelib.build_crate


@pytest.fixture(scope="session")
def allocator_wasm():
    """allocator_wasm("bump" | "freelist" | "arena" | "default", **build_crate kwargs).

    The `probe` crate (auditor's __auditor_* probe exports) linked with that allocator.
    """
    return fixturelib.build_with_allocator


@pytest.fixture(scope="session")
def wat_module():
    """wat_module("segments") -> .wasm Path of fixtures/wat/segments.wat."""
    return fixturelib.wat


@pytest.fixture(scope="session")
def wat_facts():
    """wat_facts("segments") -> the hand-computed `;; @fact` values of that file."""
    return fixturelib.wat_facts


@pytest.fixture(scope="session")
def c_module():
    """c_module("bulk_simd", flags=()) -> .wasm Path of fixtures/c/bulk_simd.c."""
    return fixturelib.clang_module


@pytest.fixture(scope="session")
def malformed_cases(tmp_path_factory) -> list[tuple[Path, str]]:
    """(module.wasm, expected reason) for every binary assert_malformed case."""
    return fixturelib.malformed_corpus(tmp_path_factory.mktemp("malformed"))
