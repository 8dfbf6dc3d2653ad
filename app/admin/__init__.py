"""Moderation (docs/api.md, "Moderation"): the `admin` role, suspending and reinstating accounts,
unlisting and relisting spots, and the audit log of every admin action. It changes accounts, their
sign-ins, spots and bookings, so it stands at the top beside privacy."""
