"""A card drawn as a 1080×1080 PNG, its cache, and the signed links that let anyone fetch it."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import io
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pylopdf_fonts_ko
import redis
from PIL import Image, ImageColor, ImageDraw, ImageFont

log = logging.getLogger(__name__)

SIZE = 1080
PADDING = 90
# Cards are laid out about 360 px wide in the app: sizes scale by 3 on the canvas.
SCALE = SIZE / 360
MIN_FONT_PX = 16
LINE_SPACING = 1.2
# Part of every cache key: a change to how cards are drawn invalidates them all.
RENDERER_VERSION = "1"
LINK_TTL = 3600
CACHE_TTL = 7 * 24 * 3600


@dataclass(frozen=True)
class Style:
    """Everything the drawing depends on."""

    content: str
    background_color: str
    text_color: str
    font_family: str
    font_size: int
    text_align: str

    @classmethod
    def of(cls, card) -> Style:
        return cls(
            card.content,
            card.background_color,
            card.text_color,
            card.font_family,
            card.font_size,
            card.text_align,
        )

    def digest(self) -> str:
        data = json.dumps([RENDERER_VERSION, asdict(self)], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(data.encode()).hexdigest()[:32]


def render(style: Style) -> bytes:
    """The card as PNG: its colours, its font size scaled to the canvas, aligned, word-wrapped."""
    image = Image.new("RGB", (SIZE, SIZE), ImageColor.getrgb(style.background_color))
    draw = ImageDraw.Draw(image)
    width = height = SIZE - 2 * PADDING
    text = style.content.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    px = max(MIN_FONT_PX, round(style.font_size * SCALE))
    while True:
        font = _font(style.font_family, px)
        lines = wrap(text, font, width)
        line_height = _line_height(font)
        if len(lines) * line_height <= height or px == MIN_FONT_PX:
            break
        px = max(MIN_FONT_PX, int(px * 0.9))
    fitting = max(1, height // line_height)
    if len(lines) > fitting:
        lines = lines[:fitting]
        lines[-1] = _shorten(lines[-1] + "…", font, width)
    fill = ImageColor.getrgb(style.text_color)
    top = PADDING + (height - len(lines) * line_height) // 2
    for number, line in enumerate(lines):
        line_width = font.getlength(line)
        if style.text_align == "left":
            x = PADDING
        elif style.text_align == "right":
            x = SIZE - PADDING - line_width
        else:
            x = (SIZE - line_width) / 2
        draw.text((x, top + number * line_height), line, font=font, fill=fill)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def wrap(text: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """Lines no wider than `width`: breaks at spaces, and inside words longer than a line."""
    # Words are measured once each; a line's width is its words' plus its spaces'.
    measure = functools.cache(font.getlength)
    space = measure(" ")
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line, line_width = "", 0.0
        for word in paragraph.split():
            word_width = measure(word)
            if line and line_width + space + word_width <= width:
                line, line_width = f"{line} {word}", line_width + space + word_width
                continue
            if line:
                lines.append(line)
            if word_width > width:  # longer than a line: broken between characters
                *full, word = _break_word(word, measure, width)
                lines.extend(full)
                word_width = measure(word)
            line, line_width = word, word_width
        lines.append(line)
    return lines


def _break_word(word: str, measure, width: float) -> list[str]:
    pieces, piece, piece_width = [], "", 0.0
    for char in word:
        char_width = measure(char)
        if piece and piece_width + char_width > width:
            pieces.append(piece)
            piece, piece_width = "", 0.0
        piece, piece_width = piece + char, piece_width + char_width
    pieces.append(piece)
    return pieces


def _shorten(line: str, font, width: float) -> str:
    while len(line) > 1 and font.getlength(line) > width:
        line = line[:-2] + "…"
    return line


def _line_height(font: ImageFont.FreeTypeFont) -> int:
    ascent, descent = font.getmetrics()
    return round((ascent + descent) * LINE_SPACING)


def _font(family: str, px: int) -> ImageFont.FreeTypeFont:
    # Noto Sans/Serif KR: Hangul and Latin in one font.
    serif = "serif" in family.lower() and "sans" not in family.lower()
    path = pylopdf_fonts_ko.serif_path() if serif else pylopdf_fonts_ko.sans_path()
    return _load_font(str(path), px)


_fonts: dict[tuple[str, int], ImageFont.FreeTypeFont] = {}


def _load_font(path: str, px: int) -> ImageFont.FreeTypeFont:
    key = (path, px)
    if key not in _fonts:
        _fonts[key] = ImageFont.truetype(path, px)
    return _fonts[key]


class ImageCache:
    """Rendered PNGs keyed by card and style digest: in Redis when there is one, else on disk.

    A changed card has a new digest, so an entry never needs invalidating; old
    ones expire (Redis) or are replaced (disk).
    """

    def __init__(self, client: redis.Redis | None, directory: Path, prefix: str = "card-image"):
        """`client`: a Redis client whose calls are bounded (socket timeouts); None for disk."""
        self.redis = client
        self.directory = directory
        self.prefix = prefix

    def get(self, card_id: str, digest: str) -> bytes | None:
        if self.redis is not None:
            try:
                return self.redis.get(self._key(card_id, digest))
            except redis.RedisError as ex:
                log.warning("card image cache unavailable: %s", ex)
                return None
        path = self._path(card_id, digest)
        return path.read_bytes() if path.exists() else None

    def put(self, card_id: str, digest: str, png: bytes) -> None:
        if self.redis is not None:
            try:
                self.redis.set(self._key(card_id, digest), png, ex=CACHE_TTL)
            except redis.RedisError as ex:
                log.warning("card image cache unavailable: %s", ex)
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        for old in self.directory.glob(f"{card_id}-*.png"):
            old.unlink(missing_ok=True)
        path = self._path(card_id, digest)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(png)
        tmp.replace(path)

    def _key(self, card_id: str, digest: str) -> str:
        return f"{self.prefix}:{card_id}:{digest}"

    def _path(self, card_id: str, digest: str) -> Path:
        return self.directory / f"{card_id}-{digest}.png"


def card_png(card, cache: ImageCache) -> tuple[bytes, str]:
    """The card's PNG and its ETag, drawn only when the cache lacks this version of it."""
    style = Style.of(card)
    card_id, digest = str(card.public_id), style.digest()
    png = cache.get(card_id, digest)
    if png is None:
        png = render(style)
        cache.put(card_id, digest, png)
    return png, digest


def _link_key(secret_key: str) -> bytes:
    return hashlib.sha256(b"card-image-link:" + secret_key.encode()).digest()


def signature(card_id: str, expires: int, secret_key: str) -> str:
    mac = hmac.new(_link_key(secret_key), f"{card_id}:{expires}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def signed_url(base_url: str, card_id: str, secret_key: str, ttl: int = LINK_TTL) -> str:
    """A link to the card's PNG that works without a login until it expires."""
    expires = int(time.time()) + ttl
    sig = signature(card_id, expires, secret_key)
    return f"{base_url}/api/v1/cards/{card_id}/image.png?expires={expires}&signature={sig}"


def valid_signature(card_id: str, expires: int, sig: str, secret_key: str) -> bool:
    if expires < time.time():
        return False
    return hmac.compare_digest(signature(card_id, expires, secret_key), sig)
