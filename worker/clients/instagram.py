"""Instagram professional accounts through the Graph API: a media container, then publishing."""

from __future__ import annotations

import time

from worker.clients.social import Adapter, Outcome, Post, Result

MAX_CAPTION = 2200
# Instagram downloads the image and prepares the container; an image takes seconds.
POLL_INTERVAL = 1.0
POLL_ATTEMPTS = 30
PERMALINK_ATTEMPTS = 3


class Instagram(Adapter):
    name = "instagram"

    def identify(self, token: str) -> str:
        return self.get_identity("me?fields=id,username", token, lambda body: body["id"])

    def publish(self, post: Post) -> Result:
        ig_id = post.platform_user_id
        # A container is not a post: making it again after a failure is safe.
        container = self.call(
            "POST",
            f"{ig_id}/media",
            post.token,
            data={"image_url": post.image_url, "caption": caption(post.text)},
        ).get("id")
        if not container:
            raise Outcome(Result("transient", detail="container without an id"))
        self._wait_until_finished(str(container), post.token)
        published = self.call(
            "POST",
            f"{ig_id}/media_publish",
            post.token,
            sends=True,
            data={"creation_id": container},
        )
        media_id = published.get("id")
        if not media_id:
            raise Outcome(Result("unconfirmed", detail="answer without a media id"))
        return Result.ok(str(media_id), self._permalink(str(media_id), post.token))

    def _wait_until_finished(self, container: str, token: str) -> None:
        for _ in range(POLL_ATTEMPTS):
            status = self.call("GET", f"{container}?fields=status_code", token).get("status_code")
            if status == "FINISHED":
                return
            if status in ("ERROR", "EXPIRED"):
                raise Outcome(Result("bad_request", detail=f"media container {status}"))
            time.sleep(POLL_INTERVAL)
        raise Outcome(Result("transient", detail="media container not ready in time"))

    def _permalink(self, media_id: str, token: str) -> str | None:
        """The post's public URL; the post exists either way, so a failure here is no failure."""
        for _ in range(PERMALINK_ATTEMPTS):
            try:
                link = self.call("GET", f"{media_id}?fields=permalink", token).get("permalink")
            except Outcome:
                time.sleep(POLL_INTERVAL)
                continue
            return link if isinstance(link, str) else None
        return None


def caption(text: str) -> str:
    return text if len(text) <= MAX_CAPTION else text[: MAX_CAPTION - 1].rstrip() + "…"
