"""Webhook delivery tasks (the worker imports this module through `CELERY_IMPORTS`)."""

import structlog
from celery import shared_task

from enrichment.webhooks import webhook_deliveries_retry_lost, webhook_delivery_attempt


@shared_task(name="enrichment.webhook_tasks.deliver_webhook", acks_late=True, reject_on_worker_lost=True,
             time_limit=90, soft_time_limit=80)
def deliver_webhook(delivery_id: int) -> None:
    """One attempt at one delivery. Safe to deliver twice: only a due, pending delivery is claimed and sent."""
    structlog.contextvars.bind_contextvars(webhook_delivery_id=delivery_id)
    webhook_delivery_attempt(delivery_id=delivery_id)


@shared_task(name="enrichment.webhook_tasks.retry_lost_webhooks")
def retry_lost_webhooks() -> int:
    """Enqueues again the pending deliveries whose message was lost."""
    return webhook_deliveries_retry_lost()
