"""The web app for drivers and owners (docs/api.md, "Web app"): static ES modules and CSS that use
only the public JSON API, served at `/`. It imports no domain."""
