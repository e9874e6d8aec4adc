"""Facebook Pages through the Graph API: who owns a token, and posting to the Page's feed."""

from __future__ import annotations

from worker.clients.social import Adapter, Outcome, Post, Result


class Facebook(Adapter):
    name = "facebook"

    def identify(self, token: str) -> str:
        return self.get_identity("me?fields=id,name", token, lambda body: body["id"])

    def publish(self, post: Post) -> Result:
        body = self.call(
            "POST",
            f"{post.platform_user_id}/feed",
            post.token,
            sends=True,
            data={"message": post.text},
        )
        post_id = body.get("id")
        if not post_id:
            raise Outcome(Result("unconfirmed", detail="answer without a post id"))
        return Result.ok(str(post_id), f"https://www.facebook.com/{post_id}")
