"""Operations: one handler per EWS operation, the id codec, the error table, and dispatch
(the server minus HTTP)."""
