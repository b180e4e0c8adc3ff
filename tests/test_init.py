"""The curated public API: every name in ``__all__`` resolves, and nothing else is offered."""

import pytest

import motia_django


@pytest.mark.parametrize("name", motia_django.__all__)
def test_public_names_resolve(name):
    assert getattr(motia_django, name) is not None


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        motia_django.nope  # noqa: B018


def test_streams_is_the_registry_view_not_a_module():
    from motia_django import streams

    assert "chatMessage" in streams and streams["chatMessage"] is streams.chatMessage


def test_the_import_paths_page_lists_the_whole_curated_api_and_only_paths_that_import():
    """docs/api.md is the contract: every name of ``__all__`` is in it, and every module it lists imports."""
    import importlib
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()
    assert [name for name in motia_django.__all__ if f"`{name}`" not in page] == []
    modules = set(re.findall(r"^\| `(motia_django(?:\.\w+)+)` \|", page, flags=re.M))
    assert {"motia_django.asgi", "motia_django.routing", "motia_django.client", "motia_django.testing"} <= modules
    for module in modules:
        importlib.import_module(module)


def test_no_public_name_means_two_things():
    """A name the curated API offers is not reused, for something else, by the client or the models."""
    import motia_django.client
    import motia_django.models

    clashes = set(motia_django.__all__) & (set(motia_django.client.__all__) | set(motia_django.models.__all__))
    assert clashes == set()
