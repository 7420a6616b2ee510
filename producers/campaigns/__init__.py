"""Campaigns: one content stored once, a packed list of recipients, rendered per recipient by the worker."""

from ses_ramp.producers.campaigns.content import CampaignContent, Templates, idempotency_key, recipient_message
from ses_ramp.producers.campaigns.intake import CampaignReceipt
from ses_ramp.producers.campaigns.recipients import Recipient, from_csv

__all__ = ["CampaignContent", "CampaignReceipt", "Recipient", "Templates", "from_csv", "idempotency_key", "recipient_message"]
