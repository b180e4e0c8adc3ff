import urllib.request


def test_daphne_server_serves_admin(daphne_server):
    with urllib.request.urlopen(f"{daphne_server.url}/admin/login/") as resp:
        assert resp.status == 200
