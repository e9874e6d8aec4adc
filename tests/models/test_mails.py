"""Mails are rendered from the repository's templates: a text part, an HTML part, input escaped."""

from __future__ import annotations

import html
import re

import jinja2
import pytest

from models import mails

LINK = "https://api.example/api/confirm-user/7/abc.def-ghi"
PAGE = "https://rabbit.example/user/7"


def visible(markup: str) -> str:
    """What a reader sees of an HTML part: the text without tags, entities decoded."""
    return html.unescape(" ".join(re.sub(r"<[^>]+>", "", markup).split()))


def test_the_confirmation_mail_carries_the_link_in_both_parts():
    mail = mails.confirmation("bo@example.com", "토끼", LINK, 3)
    assert mail.to == "bo@example.com"
    assert mail.subject == "[Money For Rabbit] 이메일 인증을 완료해 주세요"
    assert "토끼 님" in mail.text and LINK in mail.text and "3일" in mail.text
    assert f'href="{LINK}"' in mail.html
    assert "토끼 님" in visible(mail.html) and "인증하기" in visible(mail.html)
    assert mail.html.lstrip().startswith("<!DOCTYPE html>") and 'lang="ko"' in mail.html


def test_user_input_is_escaped_in_html_and_left_alone_in_text():
    nickname = '<script>alert("x")</script>&'
    mail = mails.confirmation("bo@example.com", nickname, LINK + '"><b>', 3)
    assert "<script>" not in mail.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;" in mail.html
    assert '"><b>' not in mail.html  # the link cannot break out of its attribute
    assert nickname in mail.text  # plain text has nothing to escape


def test_the_open_day_mail_says_how_many_and_how_much():
    mail = mails.open_day("bo@example.com", "토끼", 12, 1_234_500, PAGE)
    for part in (mail.text, visible(mail.html)):
        assert "쪽지 12개와 1,234,500원을 받았습니다." in part
        assert "받은 세뱃돈이 없" not in part
    assert f"{PAGE}/letters" in mail.text and f'href="{PAGE}/letters"' in mail.html


def test_with_nothing_received_the_open_day_mail_invites_sharing_the_page():
    mail = mails.open_day("bo@example.com", "토끼", 0, 0, PAGE)
    for part in (mail.text, visible(mail.html)):
        assert "아직 받은 세뱃돈이 없네요" in part
        assert "링크" in part and "나눠" in part
        assert "0원" not in part
    assert PAGE in mail.text and f'href="{PAGE}"' in mail.html
    assert mail.subject == mails.OPEN_DAY_SUBJECT


def test_a_value_the_template_needs_cannot_be_forgotten():
    with pytest.raises(jinja2.UndefinedError):
        mails.render("confirmation", "bo@example.com", "subject", username="토끼")


def test_every_mail_has_both_parts_in_the_repository():
    names = {path.name for path in mails.TEMPLATES.iterdir()}
    for mail in ("confirmation", "open_day_received", "open_day_none"):
        assert {f"{mail}.txt", f"{mail}.html"} <= names
