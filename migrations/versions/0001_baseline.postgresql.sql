-- The schema as Pony ORM 0.7.20's create_tables made it for PostgreSQL before migrations existed.
-- Frozen: never regenerate it (later entity changes belong in later migrations).

CREATE TABLE "billing_customers" (
  "user_id" INTEGER PRIMARY KEY,
  "provider" VARCHAR(16) NOT NULL,
  "customer_id" VARCHAR(255) UNIQUE NOT NULL,
  "created_at" TIMESTAMP NOT NULL
);

CREATE TABLE "events" (
  "id" UUID PRIMARY KEY,
  "type" VARCHAR(64) NOT NULL,
  "created_at" TIMESTAMP NOT NULL,
  "data" JSONB NOT NULL
);

CREATE TABLE "idempotency_records" (
  "key" VARCHAR(255) PRIMARY KEY,
  "state" VARCHAR(16) NOT NULL,
  "attempts" INTEGER NOT NULL,
  "last_payment_id" UUID,
  "created_at" TIMESTAMP NOT NULL,
  "updated_at" TIMESTAMP NOT NULL
);

CREATE TABLE "provider_events" (
  "id" VARCHAR(255) PRIMARY KEY,
  "provider" VARCHAR(16) NOT NULL,
  "type" VARCHAR(100) NOT NULL,
  "outcome" VARCHAR(32) NOT NULL,
  "received_at" TIMESTAMP NOT NULL
);

CREATE TABLE "subscriptions" (
  "id" UUID PRIMARY KEY,
  "user_id" INTEGER NOT NULL,
  "plan_id" VARCHAR(16) NOT NULL,
  "status" VARCHAR(16) NOT NULL,
  "auto_renew" BOOLEAN NOT NULL,
  "start_date" TIMESTAMP NOT NULL,
  "end_date" TIMESTAMP NOT NULL,
  "anchor" TIMESTAMP NOT NULL,
  "periods" INTEGER NOT NULL,
  "provider" VARCHAR(16) NOT NULL,
  "customer_id" VARCHAR(255) NOT NULL,
  "payment_method_id" VARCHAR(255) NOT NULL,
  "payment_id" VARCHAR(255),
  "failed_attempts" INTEGER NOT NULL,
  "next_retry_at" TIMESTAMP,
  "canceled_at" TIMESTAMP,
  "expired_at" TIMESTAMP,
  "created_at" TIMESTAMP NOT NULL,
  "updated_at" TIMESTAMP NOT NULL
);

CREATE INDEX "idx_subscriptions__status_end_date" ON "subscriptions" ("status", "end_date");

CREATE INDEX "idx_subscriptions__user_id" ON "subscriptions" ("user_id");

CREATE TABLE "payments" (
  "id" UUID PRIMARY KEY,
  "user_id" INTEGER NOT NULL,
  "subscription" UUID,
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
  "period_start" TIMESTAMP NOT NULL,
  "period_end" TIMESTAMP NOT NULL,
  "created_at" TIMESTAMP NOT NULL,
  "updated_at" TIMESTAMP NOT NULL
);

CREATE INDEX "idx_payments__provider_id" ON "payments" ("provider_id");

CREATE INDEX "idx_payments__subscription" ON "payments" ("subscription");

CREATE INDEX "idx_payments__user_id" ON "payments" ("user_id");

ALTER TABLE "payments" ADD CONSTRAINT "fk_payments__subscription" FOREIGN KEY ("subscription") REFERENCES "subscriptions" ("id") ON DELETE SET NULL;

CREATE TABLE "users" (
  "id" SERIAL PRIMARY KEY,
  "public_id" UUID UNIQUE NOT NULL,
  "email" VARCHAR(254) NOT NULL,
  "email_key" VARCHAR(254) UNIQUE NOT NULL,
  "username" VARCHAR(50) NOT NULL,
  "password_hash" VARCHAR(255) NOT NULL,
  "display_name" VARCHAR(50),
  "avatar_url" VARCHAR(2048),
  "is_admin" BOOLEAN NOT NULL,
  "email_confirmed_at" TIMESTAMP,
  "created_at" TIMESTAMP NOT NULL,
  "updated_at" TIMESTAMP NOT NULL
);

CREATE TABLE "auth_sessions" (
  "id" UUID PRIMARY KEY,
  "user" INTEGER NOT NULL,
  "audience" VARCHAR(32) NOT NULL,
  "created_at" TIMESTAMP NOT NULL,
  "revoked_at" TIMESTAMP
);

CREATE INDEX "idx_auth_sessions__user_revoked_at" ON "auth_sessions" ("user", "revoked_at");

ALTER TABLE "auth_sessions" ADD CONSTRAINT "fk_auth_sessions__user" FOREIGN KEY ("user") REFERENCES "users" ("id") ON DELETE CASCADE;

CREATE TABLE "card_counts" (
  "owner" INTEGER PRIMARY KEY,
  "cards" INTEGER NOT NULL
);

ALTER TABLE "card_counts" ADD CONSTRAINT "fk_card_counts__owner" FOREIGN KEY ("owner") REFERENCES "users" ("id") ON DELETE CASCADE;

CREATE TABLE "cards" (
  "id" SERIAL PRIMARY KEY,
  "public_id" UUID UNIQUE NOT NULL,
  "owner" INTEGER NOT NULL,
  "content" VARCHAR(2000) NOT NULL,
  "background_color" VARCHAR(7) NOT NULL,
  "text_color" VARCHAR(7) NOT NULL,
  "font_family" VARCHAR(50) NOT NULL,
  "font_size" INTEGER NOT NULL,
  "text_align" VARCHAR(6) NOT NULL,
  "is_public" BOOLEAN NOT NULL,
  "created_at" TIMESTAMP NOT NULL,
  "updated_at" TIMESTAMP NOT NULL
);

CREATE INDEX "idx_cards__owner_created_at_id" ON "cards" ("owner", "created_at", "id");

CREATE INDEX "idx_cards__owner_updated_at_id" ON "cards" ("owner", "updated_at", "id");

ALTER TABLE "cards" ADD CONSTRAINT "fk_cards__owner" FOREIGN KEY ("owner") REFERENCES "users" ("id") ON DELETE CASCADE;

CREATE TABLE "card_tags" (
  "card" INTEGER NOT NULL,
  "tag" VARCHAR(30) NOT NULL,
  "position" INTEGER NOT NULL,
  PRIMARY KEY ("card", "tag")
);

CREATE INDEX "idx_card_tags__tag_card" ON "card_tags" ("tag", "card");

ALTER TABLE "card_tags" ADD CONSTRAINT "fk_card_tags__card" FOREIGN KEY ("card") REFERENCES "cards" ("id") ON DELETE CASCADE;

CREATE TABLE "message_totals" (
  "recipient_id" INTEGER PRIMARY KEY,
  "message_count" INTEGER NOT NULL,
  "total_amount" BIGINT NOT NULL
);

ALTER TABLE "message_totals" ADD CONSTRAINT "fk_message_totals__recipient_id" FOREIGN KEY ("recipient_id") REFERENCES "users" ("id") ON DELETE CASCADE;

CREATE TABLE "messages" (
  "id" SERIAL PRIMARY KEY,
  "recipient_id" INTEGER NOT NULL,
  "author_id" INTEGER,
  "message" VARCHAR(150) NOT NULL,
  "amount" INTEGER NOT NULL,
  "is_moneybag" BOOLEAN NOT NULL,
  "created_at" TIMESTAMP NOT NULL
);

CREATE INDEX "idx_messages__author_id" ON "messages" ("author_id");

CREATE INDEX "idx_messages__recipient_id_created_at" ON "messages" ("recipient_id", "created_at");

CREATE INDEX "idx_messages__recipient_id_id" ON "messages" ("recipient_id", "id");

ALTER TABLE "messages" ADD CONSTRAINT "fk_messages__author_id" FOREIGN KEY ("author_id") REFERENCES "users" ("id") ON DELETE SET NULL;

ALTER TABLE "messages" ADD CONSTRAINT "fk_messages__recipient_id" FOREIGN KEY ("recipient_id") REFERENCES "users" ("id") ON DELETE CASCADE;

CREATE TABLE "open_day_mails" (
  "id" SERIAL PRIMARY KEY,
  "user_id" INTEGER NOT NULL,
  "open_at" TIMESTAMP NOT NULL,
  "claim_token" VARCHAR(32),
  "claimed_at" TIMESTAMP,
  "queued_at" TIMESTAMP,
  CONSTRAINT "unq_open_day_mails__user_id_open_at" UNIQUE ("user_id", "open_at")
);

CREATE INDEX "idx_open_day_mails__claim_token" ON "open_day_mails" ("claim_token");

CREATE INDEX "idx_open_day_mails__open_at_queued_at" ON "open_day_mails" ("open_at", "queued_at");

ALTER TABLE "open_day_mails" ADD CONSTRAINT "fk_open_day_mails__user_id" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE;

CREATE TABLE "refresh_tokens" (
  "id" SERIAL PRIMARY KEY,
  "session" UUID NOT NULL,
  "token_hash" VARCHAR(64) UNIQUE NOT NULL,
  "created_at" TIMESTAMP NOT NULL,
  "expires_at" TIMESTAMP NOT NULL,
  "spent_at" TIMESTAMP
);

CREATE INDEX "idx_refresh_tokens__session" ON "refresh_tokens" ("session");

ALTER TABLE "refresh_tokens" ADD CONSTRAINT "fk_refresh_tokens__session" FOREIGN KEY ("session") REFERENCES "auth_sessions" ("id") ON DELETE CASCADE;

CREATE TABLE "shares" (
  "id" UUID PRIMARY KEY,
  "card" INTEGER NOT NULL,
  "platform" VARCHAR(32) NOT NULL,
  "status" VARCHAR(16) NOT NULL,
  "message" VARCHAR(2000),
  "share_url" VARCHAR(2048),
  "shared_at" TIMESTAMP,
  "error" VARCHAR(255),
  "created_at" TIMESTAMP NOT NULL,
  "attempts" INTEGER NOT NULL,
  "platform_post_id" VARCHAR(255),
  "post_started_at" TIMESTAMP
);

CREATE INDEX "idx_shares__card_status" ON "shares" ("card", "status");

ALTER TABLE "shares" ADD CONSTRAINT "fk_shares__card" FOREIGN KEY ("card") REFERENCES "cards" ("id") ON DELETE CASCADE;

CREATE TABLE "social_accounts" (
  "id" SERIAL PRIMARY KEY,
  "user" INTEGER NOT NULL,
  "platform" VARCHAR(16) NOT NULL,
  "platform_user_id" VARCHAR(255) NOT NULL,
  "access_token_encrypted" TEXT NOT NULL,
  "refresh_token_encrypted" TEXT,
  "expires_at" TIMESTAMP,
  "needs_reconnect" BOOLEAN NOT NULL,
  "connected_at" TIMESTAMP NOT NULL,
  CONSTRAINT "unq_social_accounts__user_platform" UNIQUE ("user", "platform")
);

ALTER TABLE "social_accounts" ADD CONSTRAINT "fk_social_accounts__user" FOREIGN KEY ("user") REFERENCES "users" ("id") ON DELETE CASCADE;

CREATE TABLE "webhook_endpoints" (
  "id" UUID PRIMARY KEY,
  "url" VARCHAR(2048) NOT NULL,
  "events" JSONB NOT NULL,
  "secret_encrypted" VARCHAR(1024) NOT NULL,
  "enabled" BOOLEAN NOT NULL,
  "disabled_reason" VARCHAR(255),
  "created_at" TIMESTAMP NOT NULL,
  "deleted_at" TIMESTAMP
);

CREATE TABLE "webhook_deliveries" (
  "id" SERIAL PRIMARY KEY,
  "endpoint" UUID NOT NULL,
  "event" UUID NOT NULL,
  "message_id" VARCHAR(40) UNIQUE NOT NULL,
  "status" VARCHAR(16) NOT NULL,
  "next_attempt_at" TIMESTAMP,
  "locked_until" TIMESTAMP,
  "lease_token" VARCHAR(32),
  "manual_requested" BOOLEAN NOT NULL,
  "attempt_count" INTEGER NOT NULL,
  "succeeded_at" TIMESTAMP,
  "created_at" TIMESTAMP NOT NULL,
  CONSTRAINT "unq_webhook_deliveries__endpoint_event" UNIQUE ("endpoint", "event")
);

CREATE INDEX "idx_webhook_deliveries__endpoint_id" ON "webhook_deliveries" ("endpoint", "id");

CREATE INDEX "idx_webhook_deliveries__event" ON "webhook_deliveries" ("event");

CREATE INDEX "idx_webhook_deliveries__status_next_attempt_at" ON "webhook_deliveries" ("status", "next_attempt_at");

ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "fk_webhook_deliveries__endpoint" FOREIGN KEY ("endpoint") REFERENCES "webhook_endpoints" ("id") ON DELETE CASCADE;

ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "fk_webhook_deliveries__event" FOREIGN KEY ("event") REFERENCES "events" ("id") ON DELETE CASCADE;

CREATE TABLE "webhook_attempts" (
  "id" SERIAL PRIMARY KEY,
  "delivery" INTEGER NOT NULL,
  "number" INTEGER NOT NULL,
  "trigger" VARCHAR(16) NOT NULL,
  "started_at" TIMESTAMP NOT NULL,
  "duration_ms" INTEGER NOT NULL,
  "status_code" INTEGER,
  "error" VARCHAR(500),
  "response_body" VARCHAR(1024),
  "succeeded" BOOLEAN NOT NULL
);

CREATE INDEX "idx_webhook_attempts__delivery" ON "webhook_attempts" ("delivery");

ALTER TABLE "webhook_attempts" ADD CONSTRAINT "fk_webhook_attempts__delivery" FOREIGN KEY ("delivery") REFERENCES "webhook_deliveries" ("id") ON DELETE CASCADE;
