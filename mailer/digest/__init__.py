"""The digest step: pick the week's stories, render them and freeze them into an edition.

One job: turn the stories the poll step stored into an edition — subject, HTML and
text rendered once, with its story list frozen — keyed by (schedule, scheduled time)
so it is made once however often it is asked for.

- how an edition picks its stories: :mod:`mailer.digest.select` (and ``sections``);
- how it is rendered: :mod:`mailer.digest.rendering` (and ``seminar``);
- how it is created, exactly once: :mod:`mailer.digest.create`;
- a preview that stores nothing: :mod:`mailer.digest.preview`;
- the seminar and sender block staff edit, in versions: :mod:`mailer.digest.seminar_block`;
- staff-edited templates and their versions: :mod:`mailer.digest.template_edits`
  (previews and checks: ``template_preview``, ``template_checks``; ``template_help``,
  ``template_import``);
- staff's "send now" (counts to confirm, then create and queue): :mod:`mailer.digest.manual`;
- reading editions already made: :mod:`mailer.digest.editions`; the public archive: :mod:`mailer.digest.archive`.

May import: the leaves (config, errors, models, context, roles), ``store``, ``render`` and
``mail`` (a preview's message is built by the send step's own builder). It does not
import another step: when the next edition is due comes in as ``scheduled_for``
from the caller (the scheduler's fire time, or ``schedules.next_fire_time``).
Other packages use only the names below.
"""

from mailer.exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        # creating and previewing editions
        "create_edition": "create",
        "SendNowPlan": "manual",
        "SentNow": "manual",
        "send_now": "manual",
        "send_now_plan": "manual",
        "preview_edition": "preview",
        "edition_json": "preview",
        "sample_message": "preview",
        "sample_part": "preview",
        "sample_values": "preview",
        # reading editions, and the public archive
        "ArchiveItem": "archive",
        "CalendarFile": "archive",
        "archive_items": "archive",
        "neutral_values": "archive",
        "public_edition_html": "archive",
        "seminar_calendar": "archive",
        "edition_by_number": "editions",
        "sent_editions": "editions",
        # selection and rendering
        "Selection": "select",
        "select_stories": "select",
        "Section": "sections",
        "group_into_sections": "sections",
        "RenderedEdition": "rendering",
        "render_edition": "rendering",
        # staff-edited templates, versioned
        "EDITABLE_TEMPLATES": "template_preview",
        "TemplateProblem": "template_preview",
        "TemplatePreview": "template_preview",
        "preview_templates": "template_preview",
        "TemplateWarning": "template_checks",
        "TemplateVersion": "template_edits",
        "TemplateRefused": "template_edits",
        "Saved": "template_edits",
        "DiffLine": "template_edits",
        "list_templates": "template_edits",
        "template_versions": "template_edits",
        "template_version": "template_edits",
        "save_template": "template_edits",
        "rollback_template": "template_edits",
        "reset_template": "template_edits",
        "diff_versions": "template_edits",
        "export_templates": "template_edits",
        "reset_template_from_cli": "template_edits",
        "ImportReport": "template_import",
        "import_templates": "template_import",
        "TemplateVariable": "template_help",
        "template_variables": "template_help",
        # the seminar block
        "Seminar": "seminar",
        "load_seminar": "seminar",
        "load_seminar_of": "seminar",
        "session_ics": "seminar",
        # the seminar and sender block staff edit (issue 12 item 7)
        "BlockInvalid": "seminar_document",
        "BlockView": "seminar_block",
        "current_block": "seminar_block",
        "block_versions": "seminar_block",
        "save_block": "seminar_block",
        "rollback_block": "seminar_block",
    },
)
