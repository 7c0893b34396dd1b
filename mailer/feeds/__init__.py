"""The poll step: turn feeds into stories — fetch, parse, filter, de-duplicate, store.

One job: read the feeds staff registered, fetch each over HTTP behind the SSRF
guard, parse and sanitise its items, score them against the keywords, give each a
stable identity and cluster key, and store the new ones as stories for the digest
step to select. The feed catalog (adding, editing, enabling, removing feeds, with
their validation) belongs here too, so the command line and the admin share it.

May import: the leaves (config, errors, models, context, exports) and ``store``;
httpx, httpcore and feedparser only in ``fetch``, ``transport`` and ``parse``, so
that the catalog and the feed-list reader load neither. Other packages use only
the names below (lazily imported: ``mailer feeds list`` never loads httpx).
"""

from mailer.exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        # polling
        "poll_feeds": "poll",
        "summarise": "poll",
        "count_waiting": "poll",
        "never_polled": "history",
        # the catalog
        "FeedView": "catalog",
        "add_feed": "catalog",
        "check_feed_name": "catalog",
        "check_feed_url": "catalog",
        "disable_feed": "catalog",
        "edit_feed": "catalog",
        "enable_feed": "catalog",
        "get_feed": "catalog",
        "list_feeds": "catalog",
        "remove_feed": "catalog",
        # near-duplicates: is this the same news? (the digest step joins them)
        "StoryPrint": "similarity",
        "story_print": "similarity",
        "score": "similarity",
        "conflict": "similarity",
        "jaccard": "similarity",
        "same_news": "similarity",
        "similar_enough": "similarity",
        "outlet_names": "dedupe",
        "THRESHOLD": "similarity",
        # config/feeds.toml, the feeds ``mailer init`` seeds
        "feeds_file": "feedlist",
        "load_feed_list": "feedlist",
    },
)
