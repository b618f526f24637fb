"""The mailbox's IM list as a model with its rules. Pure: no XML, no SQL, no HTTP."""
