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
