"""mailer: a feed-driven newsletter service (poll → digest → send, driven by schedules)."""

__version__ = "0.1.0"
