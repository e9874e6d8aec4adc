"""Money For Rabbit messages: writing with money, reading one's own once open, withdrawal."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from conftest import APP_URL
from contract import CheckedClient
from pony import orm

from api.auth import RABBIT, TokenService
from models import db
from models.clock import utcnow
from models.messages import Message
from models.passwords import hash_password
from models.sessions import start_session
from models.users import User

PASSWORD_HASH = hash_password("Abcdefgh123!")
UNITS = (100, 500, 1000, 5000, 10000, 50000, 99999)
NOT_A_UNIT = "화폐단위에 벗어난 액수를 선택하려면 돈봉투를 사용하세요."
MONEYBAG_RANGE = "돈봉투에는 1원부터 1,000,000원까지 담을 수 있습니다."
BAD_MESSAGE = "쪽지는 공백이 아닌 1자 이상 150자 이하로 작성해 주세요."
BAD_PAGE = "페이지 번호는 1 이상 1000000 이하의 정수여야 합니다."


class Rabbit:
    """A confirmed user with a live Money For Rabbit session."""

    def __init__(self, client, config, email: str, username: str):
        # Straight to the store, with a token from a real session: the API's
        # login is tested elsewhere, and argon2 per user would slow every test.
        with orm.db_session:
            user = User(
                email=email,
                email_key=email,
                username=username,
                password_hash=PASSWORD_HASH,
                email_confirmed_at=utcnow(),
            )
            orm.flush()  # the id goes into the token
            session = start_session(user, RABBIT, config.rabbit_refresh_token_ttl).session
            tokens = TokenService(config.secret_key, {RABBIT: config.rabbit_access_token_ttl})
            self.token = tokens.issue_access(session).token
            self.id = user.id
        self.client = client
        self.email = email
        self.username = username

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    def write(self, to, message="새해 복 많이 받아!", amount=5000, is_moneybag=False, **kw):
        body = {"message": message, "amount": amount, "is_moneybag": is_moneybag}
        return self.client.simulate_post(
            f"/api/user/{_id(to)}/messages", json=body, headers=self.headers, **kw
        )

    def list(self, owner=None, page=None, client=None):
        return (client or self.client).simulate_get(
            f"/api/user/{_id(owner or self)}/messages",
            query_string=None if page is None else f"page={page}",
            headers=self.headers,
        )

    def detail(self, message_id, owner=None, client=None):
        return (client or self.client).simulate_get(
            f"/api/user/{_id(owner or self)}/messages/{message_id}", headers=self.headers
        )


def _id(user) -> str:
    return str(user.id) if isinstance(user, Rabbit) else str(user)


@pytest.fixture
def ann(client, config):
    return Rabbit(client, config, "ann@example.com", "앤")


@pytest.fixture
def bob(client, config):
    return Rabbit(client, config, "bob@example.com", "밥")


@pytest.fixture
def cat(client, config):
    return Rabbit(client, config, "cat@example.com", "캣")


def client_opening_at(config, open_at: datetime):
    from api.app import create_app

    return CheckedClient(create_app(dataclasses.replace(config, messages_open_at=open_at)))


# Writing


def test_a_message_is_created_with_its_author_and_image(ann, bob):
    answer = bob.write(ann, message="올해도 잘 부탁해", amount=10000)
    assert answer.status_code == 201
    assert answer.json == {
        "id": answer.json["id"],
        "message": "올해도 잘 부탁해",
        "amount": 10000,
        "is_moneybag": False,
        "image_name": "Money_10000.png",
        "author_name": "밥",
    }
    assert isinstance(answer.json["id"], int)


@pytest.mark.parametrize("amount", UNITS)
def test_every_money_unit_is_accepted_without_a_money_bag(ann, bob, amount):
    answer = bob.write(ann, amount=amount)
    assert answer.status_code == 201
    assert answer.json["image_name"] == f"Money_{amount}.png"


@pytest.mark.parametrize("amount", [0, -100, 1, 99, 5001, 100000, 1_000_000, 10**30])
def test_other_amounts_need_a_money_bag(ann, bob, amount):
    answer = bob.write(ann, amount=amount)
    assert answer.status_code == 400
    assert answer.json == {"error": NOT_A_UNIT}


@pytest.mark.parametrize("amount", [1, 5000, 5001, 123_456, 1_000_000])
def test_a_money_bag_holds_any_amount_from_1_to_a_million(ann, bob, amount):
    answer = bob.write(ann, amount=amount, is_moneybag=True)
    assert answer.status_code == 201
    assert answer.json["amount"] == amount
    assert answer.json["is_moneybag"] is True
    assert answer.json["image_name"] == "Money_99999.png"


@pytest.mark.parametrize("amount", [0, -1, -5000, 1_000_001, 2**31, 10**30])
def test_a_money_bag_amount_must_be_positive_and_bounded(ann, bob, amount):
    answer = bob.write(ann, amount=amount, is_moneybag=True)
    assert answer.status_code == 400
    assert answer.json == {"error": MONEYBAG_RANGE}


def test_an_integral_float_amount_counts_as_that_integer(ann, bob):
    answer = bob.write(ann, amount=5000.0)
    assert answer.status_code == 201
    assert answer.json["amount"] == 5000
    assert isinstance(answer.json["amount"], int)


def test_a_message_of_150_characters_fits_and_151_do_not(ann, bob):
    assert bob.write(ann, message="토" * 150).status_code == 201
    assert bob.write(ann, message="a").status_code == 201
    too_long = bob.write(ann, message="토" * 151)
    assert too_long.status_code == 400
    assert too_long.json == {"error": BAD_MESSAGE}


def test_line_breaks_are_kept(ann, bob):
    answer = bob.write(ann, message="첫 줄\n둘째 줄\t끝")
    assert answer.status_code == 201
    assert answer.json["message"] == "첫 줄\n둘째 줄\t끝"


@pytest.mark.parametrize("message", ["", "   ", "\n\t", "a\x00b", "bell\x07", 5, None, ["hi"]])
def test_empty_blank_or_binary_messages_are_refused(ann, bob, message):
    answer = bob.write(ann, message=message)
    assert answer.status_code == 400
    assert answer.json == {"error": BAD_MESSAGE}


def test_an_unpaired_surrogate_is_refused_not_a_server_error(client, ann, bob):
    raw = '{"message": "\\ud800", "amount": 100, "is_moneybag": false}'
    answer = client.simulate_post(
        f"/api/user/{ann.id}/messages",
        body=raw,
        headers={**bob.headers, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.json == {"error": BAD_MESSAGE}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"amount": 100, "is_moneybag": False}, BAD_MESSAGE),
        ({"message": "hi", "is_moneybag": False}, "금액(amount)은 정수로 입력해 주세요."),
        (
            {"message": "hi", "amount": "5000", "is_moneybag": False},
            "금액(amount)은 정수로 입력해 주세요.",
        ),
        (
            {"message": "hi", "amount": 5000.5, "is_moneybag": True},
            "금액(amount)은 정수로 입력해 주세요.",
        ),
        (
            {"message": "hi", "amount": True, "is_moneybag": False},
            "금액(amount)은 정수로 입력해 주세요.",
        ),
        (
            {"message": "hi", "amount": 100},
            "돈봉투 사용 여부(is_moneybag)는 true 또는 false 로 입력해 주세요.",
        ),
        (
            {"message": "hi", "amount": 100, "is_moneybag": "yes"},
            "돈봉투 사용 여부(is_moneybag)는 true 또는 false 로 입력해 주세요.",
        ),
        ([1, 2, 3], "잘못된 요청입니다."),
        ("hello", "잘못된 요청입니다."),
    ],
)
def test_bodies_of_the_wrong_shape_are_400(client, ann, bob, body, error):
    answer = client.simulate_post(f"/api/user/{ann.id}/messages", json=body, headers=bob.headers)
    assert answer.status_code == 400
    assert answer.json == {"error": error}


def test_malformed_json_is_400(client, ann, bob):
    answer = client.simulate_post(
        f"/api/user/{ann.id}/messages",
        body='{"message": "hi",',
        headers={**bob.headers, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.json == {"error": "잘못된 요청입니다."}


def test_writing_needs_a_login(client, ann):
    body = {"message": "hi", "amount": 100, "is_moneybag": False}
    answer = client.simulate_post(f"/api/user/{ann.id}/messages", json=body)
    assert answer.status_code == 401
    assert answer.json == {"error": "토큰 정보가 필요합니다."}
    bad = client.simulate_post(
        f"/api/user/{ann.id}/messages", json=body, headers={"Authorization": "Bearer nope"}
    )
    assert bad.status_code == 401
    assert bad.json == {"error": "잘못된 토큰입니다."}


@pytest.mark.parametrize("user_id", ["999999", "abc", "-1", "0", "1.5", "99999999999999999999"])
def test_writing_to_no_such_user_is_404(bob, user_id):
    answer = bob.write(user_id)
    assert answer.status_code == 404
    assert answer.json == {"error": "사용자를 찾을 수 없습니다."}


def test_a_user_may_leave_themselves_a_message(ann):
    assert ann.write(ann).status_code == 201
    assert ann.list().json["message_set_count"] == 1


# Reading the list


def test_the_list_shows_the_owner_totals_and_the_newest_six(ann, bob, cat):
    written = [bob.write(ann, message=f"쪽지 {n}", amount=100).json["id"] for n in range(4)]
    written += [
        cat.write(ann, message=f"봉투 {n}", amount=7, is_moneybag=True).json["id"] for n in range(3)
    ]
    ann.write(bob, amount=50000)  # on someone else's page: not counted

    answer = ann.list()
    assert answer.status_code == 200
    body = answer.json
    assert body["user_info"] == {"username": "앤", "email": "ann@example.com", "total_amount": 421}
    assert body["message_set_count"] == 7
    assert [m["id"] for m in body["messages"]] == written[::-1][:6]
    assert body["messages"][0] == {
        "id": written[-1],
        "message": "봉투 2",
        "amount": 7,
        "is_moneybag": True,
        "image_name": "Money_99999.png",
        "author_name": "캣",
    }
    assert body["next"] == f"{APP_URL}/api/user/{ann.id}/messages?page=2"
    assert body["prev"] is None

    second = ann.list(page=2).json
    assert [m["id"] for m in second["messages"]] == [written[0]]
    assert second["next"] is None
    assert second["prev"] == f"{APP_URL}/api/user/{ann.id}/messages?page=1"
    assert second["message_set_count"] == 7


def test_an_empty_page_has_no_links(ann):
    body = ann.list().json
    assert body["messages"] == []
    assert body["message_set_count"] == 0
    assert body["user_info"]["total_amount"] == 0
    assert body["next"] is None
    assert body["prev"] is None


def test_exactly_six_messages_make_one_page(ann, bob):
    for _ in range(6):
        bob.write(ann, amount=100)
    body = ann.list().json
    assert len(body["messages"]) == 6
    assert body["next"] is None
    assert body["prev"] is None
    beyond = ann.list(page=2).json
    assert beyond["messages"] == []
    assert beyond["prev"] == f"{APP_URL}/api/user/{ann.id}/messages?page=1"


def test_a_page_past_the_last_is_empty_and_points_back_to_the_last(ann, bob):
    for _ in range(13):
        bob.write(ann, amount=100)
    last = ann.list(page=3).json
    assert len(last["messages"]) == 1
    assert last["next"] is None
    beyond = ann.list(page=50)
    assert beyond.status_code == 200
    assert beyond.json["messages"] == []
    assert beyond.json["next"] is None
    assert beyond.json["prev"] == f"{APP_URL}/api/user/{ann.id}/messages?page=3"
    assert beyond.json["message_set_count"] == 13
    assert ann.list(page=1_000_000).status_code == 200


@pytest.mark.parametrize(
    "page", ["0", "-1", "abc", "1.5", "", "1e3", "1000001", "99999999999999999999"]
)
def test_a_page_that_is_not_a_positive_integer_is_400(ann, page):
    answer = ann.list(page=page)
    assert answer.status_code == 400
    assert answer.json == {"error": BAD_PAGE}


def test_only_the_owner_reads_the_list(ann, bob):
    bob.write(ann)
    answer = bob.list(owner=ann)
    assert answer.status_code == 403
    assert answer.json == {"error": "쪽지는 본인만 조회할 수 있습니다"}


def test_reading_needs_a_login(client, ann):
    answer = client.simulate_get(f"/api/user/{ann.id}/messages")
    assert answer.status_code == 401
    assert answer.json == {"error": "토큰 정보가 필요합니다."}


@pytest.mark.parametrize("user_id", ["999999", "abc", "-3", "%20"])
def test_the_list_of_no_such_user_is_404(ann, user_id):
    answer = ann.list(owner=user_id)
    assert answer.status_code == 404
    assert answer.json == {"error": "사용자를 찾을 수 없습니다."}


# Reading one message


def test_the_owner_reads_a_message(ann, bob):
    written = bob.write(ann, message="복", amount=500).json
    answer = ann.detail(written["id"])
    assert answer.status_code == 200
    assert answer.json == written


def test_only_the_owner_reads_a_message(ann, bob):
    written = bob.write(ann).json
    answer = bob.detail(written["id"], owner=ann)
    assert answer.status_code == 403
    assert answer.json == {"error": "상세내용 조회는 본인만 가능합니다."}


def test_a_message_on_another_page_is_not_found_through_ones_own(ann, bob, cat):
    to_bob = cat.write(bob).json
    answer = ann.detail(to_bob["id"])
    assert answer.status_code == 404
    assert answer.json == {"error": "쪽지를 찾을 수 없습니다."}


@pytest.mark.parametrize(
    "message_id", ["424242", "abc", "-1", "0", "1.0", "99999999999999999999", "2147483648"]
)
def test_unknown_or_malformed_message_ids_are_404(ann, message_id):
    answer = ann.detail(message_id)
    assert answer.status_code == 404
    assert answer.json == {"error": "쪽지를 찾을 수 없습니다."}


def test_a_message_of_no_such_user_is_404(ann):
    answer = ann.detail(1, owner="nobody")
    assert answer.status_code == 404
    assert answer.json == {"error": "사용자를 찾을 수 없습니다."}


# The opening date


def test_before_the_opening_both_reads_answer_400_with_the_date(config, ann, bob):
    opening = datetime(2099, 1, 1, tzinfo=UTC) - timedelta(hours=9)  # 0:00 KST
    closed = client_opening_at(config, opening)
    written = bob.write(ann)
    assert written.status_code == 201
    text = "쪽지는 2099년 1월 1일 0시부터 확인할 수 있습니다."
    for answer in (ann.list(client=closed), ann.detail(written.json["id"], client=closed)):
        assert answer.status_code == 400
        assert answer.json == {"error": text}
    # Writing is what the days before the opening are for.
    late = closed.simulate_post(
        f"/api/user/{ann.id}/messages",
        json={"message": "또 왔어", "amount": 100, "is_moneybag": False},
        headers=bob.headers,
    )
    assert late.status_code == 201


def test_the_opening_text_is_in_korean_time_with_minutes_when_needed(config, ann):
    closed = client_opening_at(config, datetime(2098, 12, 31, 15, 30, tzinfo=UTC))
    assert ann.list(client=closed).json == {
        "error": "쪽지는 2099년 1월 1일 0시 30분부터 확인할 수 있습니다."
    }


def test_after_the_opening_messages_can_be_read(config, ann, bob):
    opened = client_opening_at(config, datetime.now(UTC) - timedelta(seconds=1))
    written = bob.write(ann).json
    assert ann.list(client=opened).status_code == 200
    assert ann.detail(written["id"], client=opened).json == written


def test_strangers_are_refused_before_the_opening_too(config, ann, bob):
    closed = client_opening_at(config, datetime(2099, 1, 1, tzinfo=UTC))
    assert bob.list(owner=ann, client=closed).status_code == 403


# Totals and withdrawal


def test_the_public_profile_shows_the_money_received(client, ann, bob):
    bob.write(ann, amount=50000)
    bob.write(ann, amount=12345, is_moneybag=True)
    ann.write(bob, amount=100)
    answer = client.simulate_get(f"/api/user/{ann.id}")
    assert answer.json == {"user_info": {"username": "앤", "total_amount": 62345}}


def withdraw(client, user):
    return client.simulate_delete(
        "/api/user/withdraw", json={"username": user.username}, headers=user.headers
    )


def test_a_withdrawing_authors_messages_go_with_them(client, ann, bob, cat):
    """The app warns: "보냈던 세뱃돈과 덕담은 사라집니다" (what you sent disappears)."""
    gone = [bob.write(ann, amount=10000).json, bob.write(ann, amount=777, is_moneybag=True).json]
    stays = cat.write(ann, amount=500).json
    bob.write(cat, amount=1000)
    assert withdraw(client, bob).status_code == 204

    body = ann.list().json
    assert body["message_set_count"] == 1
    assert body["user_info"]["total_amount"] == 500
    assert body["messages"] == [stays]
    for message in gone:
        missing = ann.detail(message["id"])
        assert missing.status_code == 404 and missing.json == {"error": "쪽지를 찾을 수 없습니다."}
    assert client.simulate_get(f"/api/user/{ann.id}").json["user_info"]["total_amount"] == 500
    assert cat.list().json["message_set_count"] == 0
    assert client.simulate_get(f"/api/user/{cat.id}").json["user_info"]["total_amount"] == 0


def test_a_withdrawn_recipients_messages_go_with_them(client, ann, bob, cat):
    for _ in range(8):
        bob.write(ann, amount=100)
    ann.write(cat, amount=1000)
    cat.write(bob, amount=500)
    assert withdraw(client, ann).status_code == 204
    with orm.db_session:
        assert orm.count(m for m in Message) == 1
        assert User.get(id=ann.id) is None
    assert cat.list().json["user_info"]["total_amount"] == 0
    assert bob.list().json["user_info"]["total_amount"] == 500


def test_a_renamed_author_shows_under_the_new_name(client, ann, bob):
    written = bob.write(ann).json
    client.simulate_put(f"/api/user/{bob.id}", json={"username": "밥밥"}, headers=bob.headers)
    assert ann.detail(written["id"]).json["author_name"] == "밥밥"


def test_messages_are_indexed_by_recipient_then_id_and_created_at(config):
    with orm.db_session:
        if db.provider.dialect == "PostgreSQL":
            rows = db.select("SELECT indexdef FROM pg_indexes WHERE tablename = 'messages'")
            defs = [row.replace('"', "") for row in rows]
            assert any("(recipient_id, id)" in d for d in defs), defs
            assert any("(recipient_id, created_at)" in d for d in defs), defs
        else:
            names = [row[1] for row in db.execute("PRAGMA index_list('messages')")]
            columns = [
                tuple(col[2] for col in db.execute(f"PRAGMA index_info('{name}')"))
                for name in names
            ]
            assert ("recipient_id", "id") in columns, columns
            assert ("recipient_id", "created_at") in columns, columns


def test_a_page_number_answers_the_same_each_time_it_is_asked(ann):
    """Query verdicts are kept (api.validation): a repeated query gets the same answer,
    and a valid one kept does not vouch for an invalid one that looks alike."""
    ann.write(ann)
    for _ in range(3):
        assert ann.list(page=1).status_code == 200
        for page in ("0", "01x", " 1", "1 "):
            answer = ann.list(page=page)
            assert answer.status_code == 400, page
            assert answer.json == {"error": BAD_PAGE}
