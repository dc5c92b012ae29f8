"""Notifications: channels (Slack, Discord, Telegram, email, signed webhooks, the browser, any apprise URL),
rules that route outbox events to them, and durable, retried deliveries."""
