"""The app starts and answers on both surfaces."""


def test_signup_then_me(client):
    signup = client.simulate_post(
        "/api/v1/auth/signup",
        json={"email": "Ann@Example.com", "password": "password1", "username": "ann"},
    )
    assert signup.status_code == 200
    token = signup.json["session"]["access_token"]
    me = client.simulate_get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json["email"] == "Ann@Example.com"


def test_healthz(client):
    assert client.simulate_get("/healthz").json == {"status": "ok"}
