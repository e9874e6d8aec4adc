-- The schema as Pony ORM 0.7.20's create_tables made it for SQLite before migrations existed.
-- Frozen: never regenerate it (later entity changes belong in later migrations).

CREATE TABLE "billing_customers" (
  "user_id" INTEGER NOT NULL PRIMARY KEY,
  "provider" VARCHAR(16) NOT NULL,
  "customer_id" VARCHAR(255) UNIQUE NOT NULL,
  "created_at" DATETIME NOT NULL
);

CREATE TABLE "events" (
  "id" UUID NOT NULL PRIMARY KEY,
  "type" VARCHAR(64) NOT NULL,
  "created_at" DATETIME NOT NULL,
  "data" JSON NOT NULL
);

CREATE TABLE "idempotency_records" (
  "key" VARCHAR(255) NOT NULL PRIMARY KEY,
  "state" VARCHAR(16) NOT NULL,
  "attempts" INTEGER NOT NULL,
  "last_payment_id" UUID,
  "created_at" DATETIME NOT NULL,
  "updated_at" DATETIME NOT NULL
);

CREATE TABLE "provider_events" (
  "id" VARCHAR(255) NOT NULL PRIMARY KEY,
  "provider" VARCHAR(16) NOT NULL,
  "type" VARCHAR(100) NOT NULL,
  "outcome" VARCHAR(32) NOT NULL,
  "received_at" DATETIME NOT NULL
);

CREATE TABLE "subscriptions" (
  "id" UUID NOT NULL PRIMARY KEY,
  "user_id" INTEGER NOT NULL,
  "plan_id" VARCHAR(16) NOT NULL,
  "status" VARCHAR(16) NOT NULL,
  "auto_renew" BOOLEAN NOT NULL,
  "start_date" DATETIME NOT NULL,
  "end_date" DATETIME NOT NULL,
  "anchor" DATETIME NOT NULL,
  "periods" INTEGER NOT NULL,
  "provider" VARCHAR(16) NOT NULL,
  "customer_id" VARCHAR(255) NOT NULL,
  "payment_method_id" VARCHAR(255) NOT NULL,
  "payment_id" VARCHAR(255),
  "failed_attempts" INTEGER NOT NULL,
  "next_retry_at" DATETIME,
  "canceled_at" DATETIME,
  "expired_at" DATETIME,
  "created_at" DATETIME NOT NULL,
  "updated_at" DATETIME NOT NULL
);

CREATE INDEX "idx_subscriptions__status_end_date" ON "subscriptions" ("status", "end_date");

CREATE INDEX "idx_subscriptions__user_id" ON "subscriptions" ("user_id");

CREATE TABLE "payments" (
  "id" UUID NOT NULL PRIMARY KEY,
  "user_id" INTEGER NOT NULL,
  "subscription" UUID REFERENCES "subscriptions" ("id") ON DELETE SET NULL,
  "plan_id" VARCHAR(16) NOT NULL,
  "kind" VARCHAR(16) NOT NULL,
  "amount" INTEGER NOT NULL,
  "currency" VARCHAR(3) NOT NULL,
  "provider" VARCHAR(16) NOT NULL,
  "provider_id" VARCHAR(255),
  "payment_method_id" VARCHAR(255) NOT NULL,
  "idempotency_key" VARCHAR(255) UNIQUE NOT NULL,
  "status" VARCHAR(16) NOT NULL,
  "failure_reason" VARCHAR(32),
  "failure_message" VARCHAR(500),
  "period_start" DATETIME NOT NULL,
  "period_end" DATETIME NOT NULL,
  "created_at" DATETIME NOT NULL,
  "updated_at" DATETIME NOT NULL
);

CREATE INDEX "idx_payments__provider_id" ON "payments" ("provider_id");

CREATE INDEX "idx_payments__subscription" ON "payments" ("subscription");

CREATE INDEX "idx_payments__user_id" ON "payments" ("user_id");

CREATE TABLE "users" (
  "id" INTEGER PRIMARY KEY AUTOINCREMENT,
  "public_id" UUID UNIQUE NOT NULL,
  "email" VARCHAR(254) NOT NULL,
  "email_key" VARCHAR(254) UNIQUE NOT NULL,
  "username" VARCHAR(50) NOT NULL,
  "password_hash" VARCHAR(255) NOT NULL,
  "display_name" VARCHAR(50),
  "avatar_url" VARCHAR(2048),
  "is_admin" BOOLEAN NOT NULL,
  "email_confirmed_at" DATETIME,
  "created_at" DATETIME NOT NULL,
  "updated_at" DATETIME NOT NULL
);

CREATE TABLE "auth_sessions" (
  "id" UUID NOT NULL PRIMARY KEY,
  "user" INTEGER NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
  "audience" VARCHAR(32) NOT NULL,
  "created_at" DATETIME NOT NULL,
  "revoked_at" DATETIME
);

CREATE INDEX "idx_auth_sessions__user_revoked_at" ON "auth_sessions" ("user", "revoked_at");

CREATE TABLE "card_counts" (
  "owner" INTEGER NOT NULL PRIMARY KEY REFERENCES "users" ("id") ON DELETE CASCADE,
  "cards" INTEGER NOT NULL
);

CREATE TABLE "cards" (
  "id" INTEGER PRIMARY KEY AUTOINCREMENT,
  "public_id" UUID UNIQUE NOT NULL,
  "owner" INTEGER NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
  "content" VARCHAR(2000) NOT NULL,
  "background_color" VARCHAR(7) NOT NULL,
  "text_color" VARCHAR(7) NOT NULL,
  "font_family" VARCHAR(50) NOT NULL,
  "font_size" INTEGER NOT NULL,
  "text_align" VARCHAR(6) NOT NULL,
  "is_public" BOOLEAN NOT NULL,
  "created_at" DATETIME NOT NULL,
  "updated_at" DATETIME NOT NULL
);

CREATE INDEX "idx_cards__owner_created_at_id" ON "cards" ("owner", "created_at", "id");

CREATE INDEX "idx_cards__owner_updated_at_id" ON "cards" ("owner", "updated_at", "id");

CREATE TABLE "card_tags" (
  "card" INTEGER NOT NULL REFERENCES "cards" ("id") ON DELETE CASCADE,
  "tag" VARCHAR(30) NOT NULL,
  "position" INTEGER NOT NULL,
  PRIMARY KEY ("card", "tag")
);

CREATE INDEX "idx_card_tags__tag_card" ON "card_tags" ("tag", "card");

CREATE TABLE "message_totals" (
  "recipient_id" INTEGER NOT NULL PRIMARY KEY REFERENCES "users" ("id") ON DELETE CASCADE,
  "message_count" INTEGER NOT NULL,
  "total_amount" BIGINT NOT NULL
);

CREATE TABLE "messages" (
  "id" INTEGER PRIMARY KEY AUTOINCREMENT,
  "recipient_id" INTEGER NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
  "author_id" INTEGER REFERENCES "users" ("id") ON DELETE SET NULL,
  "message" VARCHAR(150) NOT NULL,
  "amount" INTEGER NOT NULL,
  "is_moneybag" BOOLEAN NOT NULL,
  "created_at" DATETIME NOT NULL
);

CREATE INDEX "idx_messages__author_id" ON "messages" ("author_id");

CREATE INDEX "idx_messages__recipient_id_created_at" ON "messages" ("recipient_id", "created_at");

CREATE INDEX "idx_messages__recipient_id_id" ON "messages" ("recipient_id", "id");

CREATE TABLE "open_day_mails" (
  "id" INTEGER PRIMARY KEY AUTOINCREMENT,
  "user_id" INTEGER NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
  "open_at" DATETIME NOT NULL,
  "claim_token" VARCHAR(32),
  "claimed_at" DATETIME,
  "queued_at" DATETIME,
  CONSTRAINT "unq_open_day_mails__user_id_open_at" UNIQUE ("user_id", "open_at")
);

CREATE INDEX "idx_open_day_mails__claim_token" ON "open_day_mails" ("claim_token");

CREATE INDEX "idx_open_day_mails__open_at_queued_at" ON "open_day_mails" ("open_at", "queued_at");

CREATE TABLE "refresh_tokens" (
  "id" INTEGER PRIMARY KEY AUTOINCREMENT,
  "session" UUID NOT NULL REFERENCES "auth_sessions" ("id") ON DELETE CASCADE,
  "token_hash" VARCHAR(64) UNIQUE NOT NULL,
  "created_at" DATETIME NOT NULL,
  "expires_at" DATETIME NOT NULL,
  "spent_at" DATETIME
);

CREATE INDEX "idx_refresh_tokens__session" ON "refresh_tokens" ("session");

CREATE TABLE "shares" (
  "id" UUID NOT NULL PRIMARY KEY,
  "card" INTEGER NOT NULL REFERENCES "cards" ("id") ON DELETE CASCADE,
  "platform" VARCHAR(32) NOT NULL,
  "status" VARCHAR(16) NOT NULL,
  "message" VARCHAR(2000),
  "share_url" VARCHAR(2048),
  "shared_at" DATETIME,
  "error" VARCHAR(255),
  "created_at" DATETIME NOT NULL,
  "attempts" INTEGER NOT NULL,
  "platform_post_id" VARCHAR(255),
  "post_started_at" DATETIME
);

CREATE INDEX "idx_shares__card_status" ON "shares" ("card", "status");

CREATE TABLE "social_accounts" (
  "id" INTEGER PRIMARY KEY AUTOINCREMENT,
  "user" INTEGER NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
  "platform" VARCHAR(16) NOT NULL,
  "platform_user_id" VARCHAR(255) NOT NULL,
  "access_token_encrypted" TEXT NOT NULL,
  "refresh_token_encrypted" TEXT,
  "expires_at" DATETIME,
  "needs_reconnect" BOOLEAN NOT NULL,
  "connected_at" DATETIME NOT NULL,
  CONSTRAINT "unq_social_accounts__user_platform" UNIQUE ("user", "platform")
);

CREATE TABLE "webhook_endpoints" (
  "id" UUID NOT NULL PRIMARY KEY,
  "url" VARCHAR(2048) NOT NULL,
  "events" JSON NOT NULL,
  "secret_encrypted" VARCHAR(1024) NOT NULL,
  "enabled" BOOLEAN NOT NULL,
  "disabled_reason" VARCHAR(255),
  "created_at" DATETIME NOT NULL,
  "deleted_at" DATETIME
);

CREATE TABLE "webhook_deliveries" (
  "id" INTEGER PRIMARY KEY AUTOINCREMENT,
  "endpoint" UUID NOT NULL REFERENCES "webhook_endpoints" ("id") ON DELETE CASCADE,
  "event" UUID NOT NULL REFERENCES "events" ("id") ON DELETE CASCADE,
  "message_id" VARCHAR(40) UNIQUE NOT NULL,
  "status" VARCHAR(16) NOT NULL,
  "next_attempt_at" DATETIME,
  "locked_until" DATETIME,
  "lease_token" VARCHAR(32),
  "manual_requested" BOOLEAN NOT NULL,
  "attempt_count" INTEGER NOT NULL,
  "succeeded_at" DATETIME,
  "created_at" DATETIME NOT NULL,
  CONSTRAINT "unq_webhook_deliveries__endpoint_event" UNIQUE ("endpoint", "event")
);

CREATE INDEX "idx_webhook_deliveries__endpoint_id" ON "webhook_deliveries" ("endpoint", "id");

CREATE INDEX "idx_webhook_deliveries__event" ON "webhook_deliveries" ("event");

CREATE INDEX "idx_webhook_deliveries__status_next_attempt_at" ON "webhook_deliveries" ("status", "next_attempt_at");

CREATE TABLE "webhook_attempts" (
  "id" INTEGER PRIMARY KEY AUTOINCREMENT,
  "delivery" INTEGER NOT NULL REFERENCES "webhook_deliveries" ("id") ON DELETE CASCADE,
  "number" INTEGER NOT NULL,
  "trigger" VARCHAR(16) NOT NULL,
  "started_at" DATETIME NOT NULL,
  "duration_ms" INTEGER NOT NULL,
  "status_code" INTEGER,
  "error" VARCHAR(500),
  "response_body" VARCHAR(1024),
  "succeeded" BOOLEAN NOT NULL
);

CREATE INDEX "idx_webhook_attempts__delivery" ON "webhook_attempts" ("delivery");
