"""A card's PNG: how it is drawn, who may fetch it, and its cache."""

from __future__ import annotations

import io
import time
import uuid
from urllib.parse import urlsplit

import pytest
import redis
from PIL import Image, ImageChops

from models import card_image

WHITE, BLACK = (255, 255, 255), (0, 0, 0)


@pytest.fixture
def ann(zellyy_signup):
    return zellyy_signup(username="ann")


@pytest.fixture
def cards(client, ann):
    def create(content="Hello 안녕하세요", **style) -> str:
        resp = client.simulate_post(
            "/api/v1/cards", json={"content": content, **style}, headers=ann.headers
        )
        assert resp.status_code == 201, resp.text
        return resp.json["id"]

    return create


def png(client, card_id, headers) -> Image.Image:
    resp = client.simulate_get(f"/api/v1/cards/{card_id}/image.png", headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "image/png"
    return Image.open(io.BytesIO(resp.content)).convert("RGB")


def ink(image: Image.Image, background=WHITE) -> tuple[int, int, int, int] | None:
    """The box around everything that is not background."""
    return ImageChops.difference(image, Image.new("RGB", image.size, background)).getbbox()


def signed(config, card_id, expires=None) -> str:
    url = card_image.signed_url("http://x", card_id, config.secret_key)
    if expires is not None:
        sig = card_image.signature(card_id, expires, config.secret_key)
        return f"/api/v1/cards/{card_id}/image.png?expires={expires}&signature={sig}"
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_the_owner_gets_a_1080_square_in_the_cards_colours(client, ann, cards):
    card_id = cards(content="Hello", background_color="#336699", text_color="#FFCC00")

    image = png(client, card_id, ann.headers)

    assert image.size == (1080, 1080)
    for corner in [(0, 0), (1079, 0), (0, 1079), (1079, 1079)]:
        assert image.getpixel(corner) == (0x33, 0x66, 0x99)
    colours = dict((rgb, n) for n, rgb in image.getcolors(1080 * 1080))
    assert colours.get((0xFF, 0xCC, 0x00), 0) > 100  # the text, in its colour


def test_hangul_and_latin_both_render_as_real_glyphs(client, ann, cards):
    drawn = {text: png(client, cards(content=text), ann.headers) for text in ("가", "나", "A", "B")}
    for image in drawn.values():
        assert ink(image) is not None
    # A font without Hangul draws the same empty box for every syllable.
    assert ImageChops.difference(drawn["가"], drawn["나"]).getbbox() is not None
    assert ImageChops.difference(drawn["A"], drawn["B"]).getbbox() is not None


def test_alignment_places_the_text(client, ann, cards):
    boxes = {
        align: ink(png(client, cards(content="short", text_align=align), ann.headers))
        for align in ("left", "center", "right")
    }
    left, center, right = boxes["left"], boxes["center"], boxes["right"]
    assert left[0] < 150
    assert right[2] > 1080 - 150
    assert abs((center[0] + center[2]) / 2 - 540) < 10
    assert left[0] < center[0] < right[0]


def test_font_size_scales_the_text(client, ann, cards):
    small = ink(png(client, cards(content="Size", font_size=12), ann.headers))
    large = ink(png(client, cards(content="Size", font_size=48), ann.headers))
    assert (large[2] - large[0]) > 3 * (small[2] - small[0])


def test_long_text_wraps_inside_the_margins(client, ann, cards):
    one_line = ink(png(client, cards(content="wrap", font_size=24), ann.headers))
    text = "A long sentence that cannot fit on one line 한국어 문장도 함께 " * 6
    wrapped = ink(png(client, cards(content=text, font_size=24), ann.headers))
    unbroken = ink(png(client, cards(content="x" * 400, font_size=24), ann.headers))

    assert (wrapped[3] - wrapped[1]) > 5 * (one_line[3] - one_line[1])
    for box in (wrapped, unbroken):
        assert box[0] >= 80 and box[2] <= 1000
        assert box[1] >= 0 and box[3] <= 1080


def test_the_longest_card_still_fits_the_canvas(client, ann, cards):
    box = ink(png(client, cards(content="가나다라 " * 400, font_size=72), ann.headers))
    assert box[0] >= 80 and box[2] <= 1000 and box[1] >= 80 and box[3] <= 1000


def test_a_signed_link_works_without_a_login(client, config, cards):
    card_id = cards(background_color="#000000")

    resp = client.simulate_get(signed(config, card_id))

    assert resp.status_code == 200
    image = Image.open(io.BytesIO(resp.content))
    assert image.size == (1080, 1080)
    assert image.convert("RGB").getpixel((0, 0)) == BLACK


def test_bad_or_expired_links_are_refused(client, config, cards):
    card_id, other_id = cards(), cards()
    good = signed(config, card_id)
    expired = signed(config, card_id, expires=int(time.time()) - 1)
    someone_elses = signed(config, other_id).replace(other_id, card_id)
    tampered = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    wrong_key = card_image.signature(card_id, int(time.time()) + 60, "another-secret")

    for path in (
        expired,
        someone_elses,
        tampered,
        f"/api/v1/cards/{card_id}/image.png?expires={int(time.time()) + 60}&signature={wrong_key}",
        f"/api/v1/cards/{card_id}/image.png?signature=abc",
    ):
        resp = client.simulate_get(path)
        assert resp.status_code == 401, path
        assert resp.json["error"]["code"] == "authentication_required"

    for query in ("expires=soon&signature=x", f"expires={int(time.time()) + 60}&signature=x%0A"):
        malformed = client.simulate_get(f"/api/v1/cards/{card_id}/image.png?{query}")
        assert malformed.status_code == 400, query
        assert malformed.json["error"]["code"] == "invalid_request"


def test_a_signed_link_to_a_deleted_card_is_not_found(client, config, ann, cards):
    card_id = cards()
    link = signed(config, card_id)
    assert (
        client.simulate_delete(f"/api/v1/cards/{card_id}", headers=ann.headers).status_code == 204
    )
    assert client.simulate_get(link).status_code == 404


def test_without_a_link_only_the_owner_may_fetch(client, cards, zellyy_signup):
    card_id = cards()
    bob = zellyy_signup(username="bob")

    assert client.simulate_get(f"/api/v1/cards/{card_id}/image.png").status_code == 401
    theirs = client.simulate_get(f"/api/v1/cards/{card_id}/image.png", headers=bob.headers)
    assert theirs.status_code == 404
    assert theirs.json["error"]["code"] == "resource_not_found"
    missing = client.simulate_get(f"/api/v1/cards/{uuid.uuid4()}/image.png", headers=bob.headers)
    assert missing.status_code == 404


def test_the_rendering_is_cached_until_the_card_changes(client, config, ann, cards):
    card_id = cards(content="cached", background_color="#FFFFFF")
    path = f"/api/v1/cards/{card_id}/image.png"
    first = client.simulate_get(path, headers=ann.headers)
    etag = first.headers["etag"]

    # What the cache holds is what is served: the drawing is not repeated.
    client_of_redis = redis.Redis.from_url(config.redis_url) if config.redis_url else None
    cache = card_image.ImageCache(client_of_redis, config.var_dir / "card-images")
    digest = etag.strip('"')
    assert cache.get(card_id, digest) == first.content
    cache.put(card_id, digest, b"from the cache")
    assert client.simulate_get(path, headers=ann.headers).content == b"from the cache"
    not_modified = client.simulate_get(path, headers={**ann.headers, "If-None-Match": etag})
    assert not_modified.status_code == 304

    changed = client.simulate_patch(
        f"/api/v1/cards/{card_id}", json={"background_color": "#FF0000"}, headers=ann.headers
    )
    assert changed.status_code == 200, changed.text
    after = client.simulate_get(path, headers={**ann.headers, "If-None-Match": etag})
    assert after.status_code == 200
    assert after.headers["etag"] != etag
    assert Image.open(io.BytesIO(after.content)).convert("RGB").getpixel((0, 0)) == (255, 0, 0)


def test_the_disk_cache_keeps_one_rendering_per_card(tmp_path):
    cache = card_image.ImageCache(None, tmp_path)
    cache.put("card", "v1", b"one")
    cache.put("other", "v1", b"other")
    cache.put("card", "v2", b"two")

    assert cache.get("card", "v2") == b"two"
    assert cache.get("card", "v1") is None
    assert cache.get("other", "v1") == b"other"
