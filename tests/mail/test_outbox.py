"""The built-in outbox's Maildir as staff read it: the listing and one message by its key."""

from __future__ import annotations

import mailbox
from email.message import EmailMessage

import pytest

from mailer.errors import NotFoundError
from mailer.mail import list_outbox, read_outbox_message


def test_a_listed_message_reads_back_as_it_arrived_and_an_unknown_key_is_not_found(tmp_path):
    directory = tmp_path / "outbox"
    message = EmailMessage()
    message["Subject"] = "시흥 바이오 주간 뉴스"
    message["To"] = "reader@example.kr"
    message.set_content("본문")
    key = mailbox.Maildir(directory, create=True).add(message)
    [listed] = list_outbox(directory)
    assert listed.key == key
    data = read_outbox_message(directory, key)
    assert b"reader@example.kr" in data and len(data) == listed.size
    for unknown in ("nope", "../outbox/new/" + key, "new/" + key):
        with pytest.raises(NotFoundError):
            read_outbox_message(directory, unknown)


def test_an_outbox_that_received_nothing_yet_has_no_message(tmp_path):
    with pytest.raises(NotFoundError):
        read_outbox_message(tmp_path / "missing", "any")
