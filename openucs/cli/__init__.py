"""The admin commands. Never imports ews or http: the server is started by name."""
