"""Shares posted by the real worker to the stand-in platforms, and the token-care beat job."""

from __future__ import annotations

import dataclasses
import io
import uuid
from datetime import timedelta

import pytest
from conftest import APP_URL
from fixtures.platforms import Reply
from helpers import wait_for
from PIL import Image
from pony import orm

from models.cards import Card
from models.clock import utcnow
from models.crypto import decrypt
from models.events import Event
from models.shares import Share
from models.social import SocialAccount
from worker.clients import twitter
from worker.clients.social import Post, adapter

pytestmark = pytest.mark.redis

MESSAGE = "Check out my new card!"
CONTENT = "오늘의 카드 — Today's card"
TOKENS = {"facebook": ("fb-token", "page-100"), "instagram": ("ig-token", "ig-200"),
          "twitter": ("x-token", "x-300")}  # fmt: skip


@pytest.fixture
def sharing(client, platforms, celery_worker, live_app, zellyy_signup):
    """A user with all three platforms connected, and helpers to share and wait."""
    return Sharing(client, platforms, zellyy_signup())


class Sharing:
    def __init__(self, client, platforms, account):
        self.client, self.platforms, self.account = client, platforms, account
        for platform, (token, account_id) in TOKENS.items():
            platforms.account(platform, token, account_id)
            self.connect(platform, token)

    def connect(self, platform, token, **extra):
        resp = self.client.simulate_post(
            f"/api/v1/social/connect/{platform}",
            json={"access_token": token, **extra},
            headers=self.account.headers,
        )
        assert resp.status_code == 200, resp.text

    def card(self, content=CONTENT, **style) -> str:
        resp = self.client.simulate_post(
            "/api/v1/cards", json={"content": content, **style}, headers=self.account.headers
        )
        assert resp.status_code == 201, resp.text
        return resp.json["id"]

    def share(self, card_id, platform, message=MESSAGE) -> dict:
        body = {"message": message} if message is not None else {}
        resp = self.client.simulate_post(
            f"/api/v1/cards/{card_id}/share/{platform}", json=body, headers=self.account.headers
        )
        assert resp.status_code == 202, resp.text
        return resp.json

    def outcome(self, card_id, share_id, timeout=60) -> dict:
        def done():
            resp = self.client.simulate_get(
                f"/api/v1/cards/{card_id}/shares/{share_id}", headers=self.account.headers
            )
            return resp.json if resp.json["status"] != "pending" else None

        return wait_for(done, timeout=timeout)

    def accounts(self) -> dict:
        resp = self.client.simulate_get("/api/v1/social/accounts", headers=self.account.headers)
        return {a["platform"]: a for a in resp.json["accounts"]}


def test_the_worker_sends_the_webhook_of_a_share_it_posted(sharing, register_webhook, receiver):
    """card.shared is recorded in the worker's process; its own publisher sends the delivery."""
    register_webhook(receiver.url, events=["card.shared"])
    card_id = sharing.card()
    share = sharing.share(card_id, "facebook")
    assert sharing.outcome(card_id, share["id"])["status"] == "success"

    (request,) = receiver.wait_for(1)
    assert request.json["type"] == "card.shared"
    assert request.json["data"]["share_id"] == share["id"]


def test_a_card_shared_to_each_platform_succeeds_with_the_real_calls(sharing, platforms):
    card_id = sharing.card(background_color="#112233", text_color="#FFEEDD")
    shares = {p: sharing.share(card_id, p)["id"] for p in ("facebook", "instagram", "twitter")}
    results = {p: sharing.outcome(card_id, share_id) for p, share_id in shares.items()}
    text = f"{MESSAGE}\n\n{CONTENT}"

    for result in results.values():
        assert result["status"] == "success", result
        assert result["shared_at"].endswith("Z")
        assert result["error"] is None

    [feed] = platforms.requests("POST", "/facebook/page-100/feed")
    assert feed.token == "fb-token"
    assert feed.body == {"message": text}
    assert results["facebook"]["share_url"].startswith("https://www.facebook.com/page-100_")

    [tweet] = platforms.requests("POST", "/twitter/2/tweets")
    assert tweet.token == "x-token"
    assert tweet.body == {"text": text}
    tweet_id = results["twitter"]["share_url"].rsplit("/", 1)[1]
    assert results["twitter"]["share_url"] == f"https://x.com/i/web/status/{tweet_id}"

    [media] = platforms.requests("POST", "/instagram/ig-200/media")
    assert media.body["caption"] == text
    assert media.body["image_url"].startswith(f"{APP_URL}/api/v1/cards/{card_id}/image.png?")
    # Instagram downloaded the card from our running app, without a login.
    [fetched] = platforms.fetched
    assert fetched.status == 200 and fetched.content_type == "image/png"
    image = Image.open(io.BytesIO(fetched.data))
    assert image.size == (1080, 1080)
    assert image.convert("RGB").getpixel((5, 5)) == (0x11, 0x22, 0x33)
    # The container was polled until FINISHED, then published.
    polls = platforms.requests("GET", r"/instagram/\d+")
    assert [p.query for p in polls][:3] == [{"fields": "status_code"}] * 3
    [publish] = platforms.requests("POST", "/instagram/ig-200/media_publish")
    assert publish.body["creation_id"] in {p.path.rsplit("/", 1)[1] for p in polls}
    assert results["instagram"]["share_url"].startswith("https://www.instagram.com/p/")

    card = sharing.client.simulate_get(f"/api/v1/cards/{card_id}", headers=sharing.account.headers)
    assert card.json["share_count"] == 3
    assert card.json["share_platforms"] == ["facebook", "instagram", "twitter"]
    with orm.db_session:
        events = [e.data for e in Event.select(lambda e: e.type == "card.shared")]
    assert sorted(e["platform"] for e in events) == ["facebook", "instagram", "twitter"]
    assert {e["card_id"] for e in events} == {card_id}
    assert {e["share_url"] for e in events} == {r["share_url"] for r in results.values()}


def test_a_share_without_a_message_posts_the_card_alone(sharing, platforms):
    card_id = sharing.card(content="Just the card")
    share = sharing.share(card_id, "facebook", message=None)
    assert sharing.outcome(card_id, share["id"])["status"] == "success"
    [feed] = platforms.requests("POST", "/facebook/page-100/feed")
    assert feed.body == {"message": "Just the card"}


def test_x_posts_are_cut_to_280_with_an_ellipsis(sharing, platforms):
    latin = sharing.card(content="word " * 100)
    hangul = sharing.card(content="한글 " * 100)
    first = sharing.share(latin, "twitter")
    assert sharing.outcome(latin, first["id"])["status"] == "success"
    second = sharing.share(hangul, "twitter")
    assert sharing.outcome(hangul, second["id"])["status"] == "success"

    latin_text, hangul_text = (
        r.body["text"] for r in platforms.requests("POST", "/twitter/2/tweets")
    )
    assert latin_text.startswith(f"{MESSAGE}\n\nword word")
    assert latin_text.endswith("…")
    # 280 by X's count, where the ellipsis weighs 2.
    assert len(latin_text) <= 280
    assert 278 <= twitter.weight(latin_text) <= 280
    # X counts Hangul twice: the text fits its 280 by X's own count.
    assert hangul_text.startswith(f"{MESSAGE}\n\n한글 한글")
    assert hangul_text.endswith("…")
    assert twitter.weight(hangul_text) <= 280
    assert twitter.weight(hangul_text) >= 278


def test_a_429_waits_for_retry_after_and_then_posts(sharing, platforms):
    platforms.script(
        "POST",
        "/twitter/2/tweets",
        Reply(429, {"title": "Too Many Requests"}, {"Retry-After": "2"}),
    )
    card_id = sharing.card()

    result = sharing.outcome(card_id, sharing.share(card_id, "twitter")["id"])

    assert result["status"] == "success"
    first, second = platforms.requests("POST", "/twitter/2/tweets")
    assert second.at - first.at >= 1.9
    with orm.db_session:
        assert Share[uuid.UUID(result["id"])].attempts == 2


def test_5xx_is_retried_with_backoff(sharing, platforms):
    platforms.script("POST", "/facebook/page-100/feed", Reply(503), Reply(502))
    card_id = sharing.card()

    result = sharing.outcome(card_id, sharing.share(card_id, "facebook")["id"])

    assert result["status"] == "success"
    assert len(platforms.requests("POST", "/facebook/page-100/feed")) == 3


def test_5xx_gives_up_after_five_tries(sharing, platforms):
    platforms.script("POST", "/facebook/page-100/feed", *[Reply(503)] * 8)
    card_id = sharing.card()

    result = sharing.outcome(card_id, sharing.share(card_id, "facebook")["id"], timeout=90)

    assert result["status"] == "failed"
    assert result["error"].startswith("upstream_unavailable")
    assert result["share_url"] is None
    assert len(platforms.requests("POST", "/facebook/page-100/feed")) == 5


def test_a_revoked_token_fails_the_share_and_flags_the_account(sharing, platforms):
    platforms.revoke("ig-token")
    card_id = sharing.card()

    result = sharing.outcome(card_id, sharing.share(card_id, "instagram")["id"])

    assert result["status"] == "failed"
    assert result["error"] == "unauthorized"
    assert len(platforms.requests("POST", "/instagram/ig-200/media")) == 1
    accounts = sharing.accounts()
    assert accounts["instagram"]["needs_reconnect"] is True
    assert accounts["facebook"]["needs_reconnect"] is False
    card = sharing.client.simulate_get(f"/api/v1/cards/{card_id}", headers=sharing.account.headers)
    assert card.json["share_count"] == 0


def test_a_post_whose_answer_never_came_is_not_sent_again(sharing, platforms):
    platforms.script("POST", "/twitter/2/tweets", Reply(drop=True))
    card_id = sharing.card()

    result = sharing.outcome(card_id, sharing.share(card_id, "twitter")["id"])

    assert result["status"] == "failed"
    assert result["error"] == "unconfirmed"
    assert len(platforms.requests("POST", "/twitter/2/tweets")) == 1


def test_an_expired_token_is_not_used(sharing, platforms):
    with orm.db_session:
        SocialAccount.get(platform="facebook").expires_at = utcnow() - timedelta(minutes=1)
    card_id = sharing.card()

    result = sharing.outcome(card_id, sharing.share(card_id, "facebook")["id"])

    assert result["status"] == "failed"
    assert result["error"] == "token_expired"
    assert platforms.requests("POST", "/facebook/.*") == []


def test_a_share_whose_earlier_run_died_mid_post_is_marked_unconfirmed(sharing, platforms):
    from worker.celery import app

    card_id = sharing.card()
    with orm.db_session:
        card = Card.get(public_id=uuid.UUID(card_id))
        share = Share(card=card, platform="twitter", post_started_at=utcnow(), attempts=1)
        orm.commit()
        share_id = str(share.id)
    app.send_task("social.share", kwargs={"share_id": share_id})

    result = sharing.outcome(card_id, share_id)

    assert result["error"] == "unconfirmed"
    assert platforms.requests("POST", "/twitter/2/tweets") == []


def test_a_timeout_after_sending_is_unconfirmed_and_a_refused_connection_transient(
    config, platform_server
):
    platform_server.reset()
    platform_server.account("twitter", "x-token", "x-300")
    platform_server.script("POST", "/twitter/2/tweets", Reply(status=None, delay=2))
    post = Post(token="x-token", platform_user_id="x-300", message=None, content="hi")

    timed_out = adapter("twitter", config).post(post, timeout=(1, 0.5))

    assert timed_out.kind == "unconfirmed"
    nowhere = dataclasses.replace(config, twitter_api_url="http://127.0.0.1:9/2")
    refused = adapter("twitter", nowhere).post(post, timeout=(1, 1))
    assert refused.kind == "transient"
    platform_server.reset()


def test_token_care_refreshes_x_tokens_and_flags_other_expiring_accounts(
    sharing, platforms, config
):
    from worker.celery import app

    soon = utcnow() + timedelta(hours=1)
    sharing.connect("twitter", "x-token", refresh_token="x-refresh-1")
    platforms.x_refresh_token("x-refresh-1", "x-300")
    with orm.db_session:
        SocialAccount.get(platform="twitter").expires_at = soon
        SocialAccount.get(platform="facebook").expires_at = soon + timedelta(hours=2)
        SocialAccount.get(platform="instagram").expires_at = utcnow() + timedelta(days=10)

    app.send_task("social.token_care")

    def refreshed():
        with orm.db_session:
            account = SocialAccount.get(platform="twitter")
            return account if account.expires_at > soon + timedelta(minutes=30) else None

    account = wait_for(refreshed)
    [exchange] = platforms.requests("POST", "/twitter/2/oauth2/token")
    assert exchange.body == {
        "grant_type": "refresh_token",
        "refresh_token": "x-refresh-1",
        "client_id": "test-twitter-client",
    }
    new_token = decrypt(account.access_token_encrypted, config.encryption_key)
    assert new_token.startswith("x-access-")
    assert decrypt(account.refresh_token_encrypted, config.encryption_key).startswith("x-refresh-")
    assert account.needs_reconnect is False
    flags = wait_for(
        lambda: sharing.accounts()["facebook"]["needs_reconnect"] and sharing.accounts()
    )
    assert flags["twitter"]["needs_reconnect"] is False
    assert flags["instagram"]["needs_reconnect"] is False

    # The next share uses the refreshed token.
    card_id = sharing.card()
    assert sharing.outcome(card_id, sharing.share(card_id, "twitter")["id"])["status"] == "success"
    [tweet] = platforms.requests("POST", "/twitter/2/tweets")
    assert tweet.token == new_token


def test_token_care_flags_an_x_account_whose_refresh_is_refused(sharing, platforms):
    from worker.celery import app

    sharing.connect("twitter", "x-token", refresh_token="x-refresh-unknown")
    with orm.db_session:
        SocialAccount.get(platform="twitter").expires_at = utcnow() + timedelta(hours=1)

    app.send_task("social.token_care")

    assert wait_for(lambda: sharing.accounts()["twitter"]["needs_reconnect"])
    assert len(platforms.requests("POST", "/twitter/2/oauth2/token")) == 1


# The sweeper: shares whose task was lost are sent again, and only those.


def _share_row(share_id: str) -> Share:
    with orm.db_session:
        share = Share[uuid.UUID(share_id)]
        share.load()
        return share


def test_a_share_made_while_the_broker_is_unreachable_is_posted_after_a_sweep(
    sharing, platforms, broker_down
):
    from worker.social import sweep

    card_id = sharing.card()
    share = sharing.share(card_id, "facebook")  # commits; sending its task fails

    row = _share_row(share["id"])
    assert row.status == "pending"
    assert row.next_attempt_at <= utcnow()
    broker_down.undo()
    assert sweep(grace=0) == 1

    result = sharing.outcome(card_id, share["id"])
    assert result["status"] == "success"
    assert len(platforms.requests("POST", "/facebook/page-100/feed")) == 1
    assert _share_row(share["id"]).next_attempt_at is None
    assert sweep(grace=0) == 0


def test_a_share_being_posted_is_neither_swept_nor_posted_by_another_run(
    sharing, platforms, celery_worker
):
    from worker.celery import app
    from worker.social import sweep

    platforms.script("POST", "/facebook/page-100/feed", Reply(status=None, delay=4))
    card_id = sharing.card()
    share = sharing.share(card_id, "facebook")
    wait_for(lambda: platforms.requests("POST", "/facebook/page-100/feed"))

    # The answer has not come yet: the sweeper leaves the share alone, and a
    # duplicate task (a redelivery, a late retry) does not post it again.
    assert sweep(grace=0) == 0
    duplicate = str(uuid.uuid4())
    app.send_task("social.share", kwargs={"share_id": share["id"]}, task_id=duplicate)
    wait_for(lambda: f"{duplicate}] succeeded" in celery_worker.log())
    assert "nothing to post" in celery_worker.log().split(f"{duplicate}] succeeded")[1]
    assert _share_row(share["id"]).status == "pending"

    assert sharing.outcome(card_id, share["id"])["status"] == "success"
    assert len(platforms.requests("POST", "/facebook/page-100/feed")) == 1


def test_a_share_whose_post_went_out_unanswered_is_swept_to_unconfirmed_not_posted(
    sharing, platforms
):
    from worker.social import sweep

    card_id = sharing.card()
    with orm.db_session:
        card = Card.get(public_id=uuid.UUID(card_id))
        # A run started the post 10 minutes ago and died: its lease ran out.
        share = Share(
            card=card,
            platform="twitter",
            attempts=1,
            post_started_at=utcnow() - timedelta(minutes=10),
            next_attempt_at=utcnow() - timedelta(minutes=5),
        )
        orm.commit()
        share_id = str(share.id)

    assert sweep(grace=0) == 1

    result = sharing.outcome(card_id, share_id)
    assert result["status"] == "failed"
    assert result["error"] == "unconfirmed"
    assert platforms.requests("POST", "/twitter/2/tweets") == []


def test_a_share_waiting_to_retry_is_not_swept_before_it_is_due(sharing, platforms):
    from worker.social import sweep

    platforms.script(
        "POST",
        "/twitter/2/tweets",
        Reply(429, {"title": "Too Many Requests"}, {"Retry-After": "4"}),
    )
    card_id = sharing.card()
    share = sharing.share(card_id, "twitter")

    wait_for(
        lambda: (
            _share_row(share["id"]).attempts == 1 and not _share_row(share["id"]).post_started_at
        )
    )
    row = _share_row(share["id"])
    assert row.status == "pending"
    assert row.next_attempt_at > utcnow() + timedelta(seconds=2)
    assert sweep(grace=0) == 0

    result = sharing.outcome(card_id, share["id"])
    assert result["status"] == "success"
    first, second = platforms.requests("POST", "/twitter/2/tweets")
    assert second.at - first.at >= 3.9


def test_undated_shares_of_the_release_before_are_swept_once_due(sharing, platforms):
    """Shares written without next_attempt_at (a web process of the release before
    migration 0007, still running during the deploy) are not left pending forever."""
    from worker.social import sweep

    card_id = sharing.card()
    now = utcnow()

    def undated_share(platform: str, made: int, started: int | None = None) -> Share:
        """Made `made` minutes ago; its post started `started` minutes ago (None: not)."""
        return Share(
            card=card,
            platform=platform,
            attempts=0 if started is None else 1,
            created_at=now - timedelta(minutes=made),
            post_started_at=None if started is None else now - timedelta(minutes=started),
        )

    with orm.db_session:
        card = Card.get(public_id=uuid.UUID(card_id))
        undated = {
            "lost": undated_share("facebook", made=1),  # its task was lost: swept, posted
            # Its post is under way in a run of the release before: left alone.
            "posting": undated_share("instagram", made=2, started=1),
            # Its post started longer ago than a lease: that run died.
            "died": undated_share("twitter", made=11, started=10),
        }
        orm.commit()
        ids = {name: str(share.id) for name, share in undated.items()}
    assert all(_share_row(share_id).next_attempt_at is None for share_id in ids.values())

    assert sweep(grace=0) == 2

    assert sharing.outcome(card_id, ids["lost"])["status"] == "success"
    assert len(platforms.requests("POST", "/facebook/page-100/feed")) == 1
    died = sharing.outcome(card_id, ids["died"])
    assert (died["status"], died["error"]) == ("failed", "unconfirmed")
    assert platforms.requests("POST", "/twitter/2/tweets") == []
    assert _share_row(ids["posting"]).status == "pending"
    assert sweep(grace=0) == 0
