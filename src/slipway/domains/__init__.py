"""Custom domains of apps: names, the domain doctor, certificates (see docs/guide.md, "Custom domains and HTTPS")."""
