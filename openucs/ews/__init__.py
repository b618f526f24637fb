"""Sans-IO Exchange Web Services layer: namespaces, response codes, typed requests and responses,
the envelope reader and the response writer. Imports nothing else from openucs."""
