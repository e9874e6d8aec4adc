"""Social tasks: posting a share to its platform, the sweeper that sends the shares whose
task was lost, and the beat job that keeps tokens usable."""

from __future__ import annotations

import logging

from models import social
from models.card_image import signed_url
from models.clock import utcnow
from models.transaction import transaction
from worker.celery import app, config, publish
from worker.clients import twitter
from worker.clients.social import Post, Result, adapter

log = logging.getLogger(__name__)

# A due share is the sweeper's once its own task has had this long to run.
SWEEP_GRACE = 20
SWEEP_BATCH = 1000


@app.task(name=social.SHARE_TASK, bind=True, acks_late=True, max_retries=None)
def share(self, share_id: str, **_earlier) -> str:
    """Post one share; retries only as models.social.record_result decides.

    Idempotent: a share that is settled, or being posted by another run, is left
    alone. `_earlier`: the count of failures the previous release's retries carry
    (the row's attempts count them now).
    """
    with transaction():
        job = social.start_attempt(share_id, config.encryption_key)
    if job is None:
        return "nothing to post"
    post = Post(
        token=job.token,
        platform_user_id=job.platform_user_id,
        message=job.message,
        content=job.content,
        image_url=(
            signed_url(config.public_base_url, job.card_id, config.secret_key)
            if job.platform == "instagram"
            else None
        ),
    )
    try:
        result = adapter(job.platform, config).post(post)
    except Exception:
        # A bug, not an answer: whether the post went out is unknown, so it is not repeated.
        log.exception("posting share %s to %s failed", share_id, job.platform)
        result = Result("unconfirmed", detail="internal error")
    with transaction():
        decision = social.record_result(share_id, result)
    log.info(
        "share %s to %s: %s%s -> %s",
        share_id,
        job.platform,
        result.kind,
        f" ({result.detail})" if result.detail else "",
        decision.status,
    )
    if decision.status == "retry":
        # The sweeper sends it too, if this message is lost.
        raise self.retry(kwargs={"share_id": share_id}, countdown=decision.retry_in)
    return decision.status


@app.task(name="social.sweep", acks_late=True)
def sweep(grace: float = SWEEP_GRACE) -> int:
    """Send tasks for the pending shares that are due and have no live task (lost, or late).

    Stops at the first failed publish: the next sweep sends the rest.
    """
    with transaction():
        due = social.due_shares(utcnow(), grace, SWEEP_BATCH)
    for share_id in due:
        publish(social.SHARE_TASK, {"share_id": share_id})
    return len(due)


@app.task(name="social.token_care", acks_late=True)
def token_care() -> int:
    """Refresh X tokens that expire within a day; flag every other such account for reconnect."""
    key = config.encryption_key
    with transaction():
        account_ids = social.accounts_expiring(utcnow())
    for account_id in account_ids:
        with transaction():
            job = social.refresh_job(
                account_id, key, can_refresh_twitter=bool(config.twitter_client_id)
            )
        if job is None:
            continue
        try:
            tokens = twitter.refresh(
                config.twitter_api_url, config.twitter_client_id, job.refresh_token
            )
        except twitter.RefreshRefused as ex:
            log.info("X refused to refresh account %s: %s", account_id, ex)
            with transaction():
                social.flag_for_reconnect(account_id)
        except twitter.RefreshUnavailable as ex:
            log.warning(
                "X token refresh for account %s failed, next run retries: %s", account_id, ex
            )
        else:
            with transaction():
                social.store_refreshed(job, tokens, key)
    return len(account_ids)
