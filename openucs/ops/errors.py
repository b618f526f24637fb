"""The one table from domain and id errors to EWS response codes."""

from openucs.domain import errors as de
from openucs.ews.codes import MESSAGE_TEXT, ResponseCode
from openucs.ews.responses import Response
from openucs.ops.ids import IdEmpty, IdMalformed

ERROR_CODES: dict[type[Exception], ResponseCode] = {
    IdEmpty: ResponseCode.INVALID_ID_EMPTY,
    IdMalformed: ResponseCode.INVALID_ID_MALFORMED,
    de.InvalidGroup: ResponseCode.INVALID_IM_GROUP_ID,
    de.InvalidContact: ResponseCode.INVALID_IM_CONTACT_ID,
    de.GroupLimitReached: ResponseCode.IM_GROUP_LIMIT_REACHED,
    de.ContactLimitReached: ResponseCode.IM_CONTACT_LIMIT_REACHED,
    de.GroupNameExists: ResponseCode.IM_GROUP_DISPLAY_NAME_ALREADY_EXISTS,
    de.InvalidSmtpAddress: ResponseCode.INVALID_IM_DISTRIBUTION_GROUP_SMTP_ADDRESS,
    de.MigrationNotPossible: ResponseCode.INVALID_OPERATION,
}

EXPECTED_ERRORS: tuple[type[Exception], ...] = tuple(ERROR_CODES)


def error_response(operation: str, exc: Exception) -> Response:
    code = ERROR_CODES[type(exc)]
    text = MESSAGE_TEXT[code]
    if isinstance(exc, de.GroupLimitReached | de.ContactLimitReached):
        text = text.format(exc.limit)
    return Response(operation, code, text)


def code_response(operation: str, code: ResponseCode) -> Response:
    return Response(operation, code, MESSAGE_TEXT[code])
