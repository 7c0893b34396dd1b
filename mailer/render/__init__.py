"""The render adapter: Jinja2 for every mail part staff can edit, and for our own notices.

One job: turn a template in ``templates/email`` and plain data into the text of a
mail part, safely (the sandbox of :mod:`mailer.render.sandbox`, run in render
processes bounded in time and memory by :mod:`mailer.render.pool`), with the
personal-field markers the send step fills (:mod:`mailer.render.markers`) and
plain text wrapped for Korean readers (:mod:`mailer.render.text`).

May import: the leaves (errors, models), Jinja2 and css-inline. It knows no step:
the digest and subscribers steps hand it their data. Other packages use only the
names below.
"""

from mailer.exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        # the sandbox, run in render processes bounded in time and memory
        "MAX_PART_BYTES": "limits",
        "MailRenderer": "bounded",
        "LiveMailRenderer": "bounded",
        "RenderPool": "pool",
        "ensure_plain": "plain",
        # personal-field markers
        "MARKER_VARIABLES": "markers",
        "defuse_markers": "markers",
        "fill_personal_fields": "markers",
        # text and dates
        "display_width": "text",
        "english_date": "text",
        "korean_date": "text",
        "korean_month_day": "text",
        "local_time": "text",
        "plain_summary": "text",
        "tidy_text": "text",
        "wrap_line": "text",
        # notices
        "RenderedNotice": "notices",
        "notice_renderer": "notices",
        "render_notice": "notices",
    },
)
