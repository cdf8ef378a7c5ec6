from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from pricing.models import Price
from pricing.selectors import pricing_cache_invalidate


@receiver([post_save, post_delete], sender=Price)
def invalidate_pricing_cache(**kwargs):
    pricing_cache_invalidate()
