"""One error hierarchy, mapped to HTTP once (in app.py) and to CLI exit codes by the client."""

from __future__ import annotations


class SlipwayError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, detail: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class Invalid(SlipwayError):
    status = 422
    code = "invalid"


class NotFound(SlipwayError):
    status = 404
    code = "not_found"


class Conflict(SlipwayError):
    status = 409
    code = "conflict"


class Unauthorized(SlipwayError):
    status = 401
    code = "unauthorized"


class Forbidden(SlipwayError):
    status = 403
    code = "forbidden"


class TooMany(SlipwayError):
    status = 429
    code = "rate_limited"


class Unavailable(SlipwayError):
    """Something we depend on is missing or exhausted (port pool, router, git remote)."""

    status = 503
    code = "unavailable"


class GitError(SlipwayError):
    status = 422
    code = "git_error"


class BuildError(SlipwayError):
    status = 422
    code = "build_failed"


class DeployError(SlipwayError):
    status = 409
    code = "deploy_failed"
