"""motia_django.metrics.views: who may read the metrics (DEBUG, a bearer token, staff) and in which format;
metric names and labels tell an outsider about the project."""

from __future__ import annotations

import pytest
from django.test import override_settings

from tests.metrics.helpers import TOKEN


@pytest.mark.django_db
def test_openmetrics_when_the_scraper_asks_for_it(client):
    with override_settings(DEBUG=True):
        response = client.get("/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.rstrip().endswith(b"# EOF")


@pytest.mark.django_db
def test_without_credentials_401_with_a_bearer_challenge(client):
    response = client.get("/metrics")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert b"motia_" not in response.content
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic dXNlcjpwdw==").status_code == 401


@pytest.mark.django_db
def test_the_token_opens_it_and_a_wrong_one_is_403(client):
    with override_settings(MOTIA={"METRICS_TOKEN": TOKEN}):
        assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
        assert client.get("/metrics", HTTP_AUTHORIZATION=f"bearer  {TOKEN} ").status_code == 200
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 403
        assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}x").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 403  # no token configured


@pytest.mark.django_db
def test_the_token_is_compared_in_constant_time(client, monkeypatch):
    """Every offered token is compared by ``hmac.compare_digest`` (its time does not tell how much of it matched)."""
    import hmac

    from motia_django.metrics import views

    compared: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(views.hmac, "compare_digest", spy)
    with override_settings(MOTIA={"METRICS_TOKEN": TOKEN}):
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 403
        assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    assert compared == [(b"nope", TOKEN.encode()), (TOKEN.encode(), TOKEN.encode())]


@pytest.mark.django_db
def test_staff_sessions_are_let_in_and_other_users_are_not(client, django_user_model):
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    user = django_user_model.objects.create_user("user", password="pw")
    client.force_login(user)
    assert client.get("/metrics").status_code == 403
    client.force_login(staff)
    assert client.get("/metrics").status_code == 200
    staff.is_active = False
    staff.save()
    assert client.get("/metrics").status_code == 401  # an inactive user's session is no session
    assert client.post("/metrics").status_code == 405


def test_a_bad_token_setting_is_a_system_check_error():
    from motia_django.checks import check_settings

    for bad in (987654, "", "   ", b"s3cret"):
        with override_settings(MOTIA={"METRICS_TOKEN": bad}):
            errors = [e for e in check_settings() if e.id == "motia_django.E017"]
            assert len(errors) == 1, bad
            assert "987654" not in errors[0].msg and "s3cret" not in errors[0].msg  # never the token itself
    with override_settings(MOTIA={"METRICS_TOKEN": "fine"}):
        assert not [e for e in check_settings() if e.id == "motia_django.E017"]
