"""Domain errors: why an operation on the IM list was refused. Mapped to EWS codes in ops."""


class ImListError(Exception):
    """Base class; the message is for logs, never sent to clients as is."""


class InvalidGroup(ImListError):
    """The group does not exist in this mailbox, or is not of a kind the operation accepts."""


class InvalidContact(ImListError):
    """The contact does not exist in this mailbox's IM list."""


class GroupLimitReached(ImListError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"group limit of {limit} reached")
        self.limit = limit


class ContactLimitReached(ImListError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"contact limit of {limit} reached")
        self.limit = limit


class GroupNameExists(ImListError):
    """Another group (or the group itself) already has that display name."""


class InvalidSmtpAddress(ImListError):
    """The distribution group's address is not a syntactically valid SMTP address."""


class MigrationNotPossible(ImListError):
    """SetImListMigrationCompleted could not be recorded."""
