"""The EWS response codes openucs emits, with Exchange 2013's message texts."""

from enum import StrEnum


class ResponseCode(StrEnum):
    NO_ERROR = "NoError"
    INVALID_ID_MALFORMED = "ErrorInvalidIdMalformed"
    INVALID_ID_EMPTY = "ErrorInvalidIdEmpty"
    INVALID_IM_CONTACT_ID = "ErrorInvalidImContactId"
    INVALID_IM_GROUP_ID = "ErrorInvalidImGroupId"
    IM_CONTACT_LIMIT_REACHED = "ErrorImContactLimitReached"
    IM_GROUP_LIMIT_REACHED = "ErrorImGroupLimitReached"
    IM_GROUP_DISPLAY_NAME_ALREADY_EXISTS = "ErrorImGroupDisplayNameAlreadyExists"
    INVALID_IM_DISTRIBUTION_GROUP_SMTP_ADDRESS = "ErrorInvalidImDistributionGroupSmtpAddress"
    UNABLE_TO_REMOVE_IM_CONTACT_FROM_GROUP = "ErrorUnableToRemoveImContactFromGroup"
    INVALID_OPERATION = "ErrorInvalidOperation"
    ITEM_NOT_FOUND = "ErrorItemNotFound"
    INTERNAL_SERVER_ERROR = "ErrorInternalServerError"
    SCHEMA_VALIDATION = "ErrorSchemaValidation"
    INCORRECT_SCHEMA_VERSION = "ErrorIncorrectSchemaVersion"
    INVALID_REQUEST = "ErrorInvalidRequest"
    IMPERSONATION_DENIED = "ErrorImpersonationDenied"
    IMPERSONATE_USER_DENIED = "ErrorImpersonateUserDenied"
    IMPERSONATION_FAILED = "ErrorImpersonationFailed"
    NON_EXISTENT_MAILBOX = "ErrorNonExistentMailbox"
    EXCEEDED_CONNECTION_COUNT = "ErrorExceededConnectionCount"
    SERVER_BUSY = "ErrorServerBusy"
    ACCESS_DENIED = "ErrorAccessDenied"
    INVALID_ARGUMENT = "ErrorInvalidArgument"
    INVALID_INDEXED_PAGING_PARAMETERS = "ErrorInvalidIndexedPagingParameters"


# Texts as Exchange 2013 CU23 sends them (see shared/reference/exchange-behaviour.md).
MESSAGE_TEXT: dict[ResponseCode, str] = {
    ResponseCode.INVALID_ID_MALFORMED: "Id is malformed.",
    ResponseCode.INVALID_ID_EMPTY: "Id must be non-empty.",
    ResponseCode.INVALID_IM_CONTACT_ID: "The specified Im Contact Id is invalid.",
    ResponseCode.INVALID_IM_GROUP_ID: "The specified Im Group Id is invalid.",
    ResponseCode.IM_CONTACT_LIMIT_REACHED: "IM contact cannot be added. A maximum of {0} IM contacts is allowed.",
    ResponseCode.IM_GROUP_LIMIT_REACHED: "IM group cannot be added. A maximum of {0} IM groups is allowed.",
    ResponseCode.IM_GROUP_DISPLAY_NAME_ALREADY_EXISTS: "An IM group with the specified display name already exists.",
    ResponseCode.INVALID_IM_DISTRIBUTION_GROUP_SMTP_ADDRESS: (
        "The specified Im Distribution Group SMTP address is invalid."
    ),
    ResponseCode.UNABLE_TO_REMOVE_IM_CONTACT_FROM_GROUP: "Unable to remove IM contact from group.",
    ResponseCode.INVALID_OPERATION: "Im list migration can't be completed.",
    ResponseCode.ITEM_NOT_FOUND: "The specified object was not found in the store.",
    ResponseCode.INTERNAL_SERVER_ERROR: "An internal server error occurred. The operation failed.",
    ResponseCode.SCHEMA_VALIDATION: "The request failed schema validation.",
    ResponseCode.INCORRECT_SCHEMA_VERSION: (
        "The request is valid but does not specify the correct server version in the RequestServerVersion "
        "SOAP header.  Ensure that the RequestServerVersion SOAP header is set with the correct "
        "RequestServerVersionValue."
    ),
    ResponseCode.INVALID_REQUEST: "The request is invalid.",
    ResponseCode.IMPERSONATION_DENIED: "The account does not have permission to impersonate the requested user.",
    ResponseCode.IMPERSONATE_USER_DENIED: "The account does not have permission to impersonate the requested user.",
    ResponseCode.IMPERSONATION_FAILED: "Impersonation failed.",
    ResponseCode.NON_EXISTENT_MAILBOX: "The SMTP address has no mailbox associated with it.",
    ResponseCode.EXCEEDED_CONNECTION_COUNT: (
        "You have exceeded the available concurrent connections for your account.  "
        "Try again once your other requests have completed."
    ),
    ResponseCode.SERVER_BUSY: "The server cannot service this request right now. Try again later.",
    ResponseCode.ACCESS_DENIED: "Access is denied. Check credentials and try again.",
    ResponseCode.INVALID_ARGUMENT: "An invalid argument was passed to the operation.",
    ResponseCode.INVALID_INDEXED_PAGING_PARAMETERS: "The indexed paging parameters are invalid.",
}
