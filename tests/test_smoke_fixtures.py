"""The fixtures themselves: a made user is real, errors carry the envelope."""

import httpx

from tests.helpers import ApiUser, assert_error


async def test_token_of_made_user_reads_profile(client: httpx.AsyncClient, alice: ApiUser) -> None:
    response = await client.get("/api/auth/me", headers=alice.headers)
    assert response.status_code == 200
    assert response.json()["data"]["email"] == "alice@example.com"


async def test_unknown_route_is_enveloped_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/nope"), 404, "NOT_FOUND")
