"""E-mail through an outbox: a request writes its mail in its own transaction (`outbox.add`), the
`send_mails` job sends it by SMTP and retries what failed; a rolled-back request sends nothing.
Like auth, mail is a bottom domain: it knows accounts only by id."""
