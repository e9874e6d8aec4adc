"""The original Money For Rabbit service's message list, rebuilt for comparison (bench only).

A Flask app as the original was (bench/requirements.txt), on the same PostgreSQL
data through SQLAlchemy's ORM: the bearer token is checked by its signature
alone (the original kept no sessions), the path's user is loaded, the page comes
from a COUNT and a LIMIT/OFFSET query (Flask-SQLAlchemy's `paginate`), each
message's author is loaded through its relationship, and the total is summed
in Python over every message the user received, as the original did.

    gunicorn --workers 2 bench.original:app     (SECRET_KEY and DATABASE_URL set)

`python -m bench.run --original` serves and loads it.
"""

from __future__ import annotations

import os

import jwt
from flask import Flask, jsonify, request
from sqlalchemy import ForeignKey, create_engine, func, select
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    mapped_column,
    relationship,
    scoped_session,
    sessionmaker,
)

PER_PAGE = 6
AUDIENCE = "money-for-rabbit"


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str]
    username: Mapped[str]
    messages: Mapped[list[Message]] = relationship(
        foreign_keys="Message.recipient_id", back_populates="recipient"
    )


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    message: Mapped[str]
    amount: Mapped[int]
    is_moneybag: Mapped[bool]
    recipient: Mapped[User] = relationship(foreign_keys=[recipient_id], back_populates="messages")
    author: Mapped[User] = relationship(foreign_keys=[author_id])

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "message": self.message,
            "amount": self.amount,
            "is_moneybag": self.is_moneybag,
            "image_name": f"Money_{99999 if self.is_moneybag else self.amount}.png",
            "author_name": self.author.username,
        }


app = Flask(__name__)
# psycopg2, as our app uses (SQLAlchemy 2.1 would pick psycopg 3 for postgresql://).
engine = create_engine(
    os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg2://", 1)
)
Session = scoped_session(sessionmaker(engine))
SECRET_KEY = os.environ["SECRET_KEY"]


@app.teardown_appcontext
def _remove_session(exc) -> None:
    Session.remove()


@app.get("/api/user/<int:user_id>/messages")
def messages(user_id: int):
    header = request.headers.get("Authorization", "")
    try:
        claims = jwt.decode(header[7:], SECRET_KEY, algorithms=["HS256"], audience=AUDIENCE)
    except jwt.InvalidTokenError:
        return jsonify(error="잘못된 토큰입니다."), 401
    session = Session()
    user = session.get(User, user_id)
    if user is None:
        return jsonify(error="존재하지 않는 사용자입니다."), 404
    if int(claims["sub"]) != user.id:
        return jsonify(error="쪽지는 본인만 조회할 수 있습니다"), 403
    page = request.args.get("page", 1, type=int)
    query = select(Message).where(Message.recipient_id == user.id).order_by(Message.id.desc())
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    items = session.scalars(query.limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    pages = max(1, -(-total // PER_PAGE))
    base = f"{request.host_url}api/user/{user.id}/messages?page="
    return jsonify(
        user_info={
            "username": user.username,
            "email": user.email,
            "total_amount": sum(message.amount for message in user.messages),
        },
        message_set_count=total,
        next=f"{base}{page + 1}" if page < pages else None,
        prev=f"{base}{page - 1}" if page > 1 else None,
        messages=[message.to_dict() for message in items],
    )
