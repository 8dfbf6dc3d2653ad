"""Writing mails: in the caller's transaction, so a mail exists exactly when its cause does."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.mail import texts
from app.mail.models import Mail


async def add(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    to: str,
    message: texts.Message,
    now: datetime,
) -> Mail:
    mail = Mail(
        user_id=user_id,
        kind=message.kind,
        to_address=to,
        subject=message.subject,
        body=message.body,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(mail)
    await session.flush()
    return mail
