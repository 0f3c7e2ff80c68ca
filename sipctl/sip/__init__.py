"""Sans-IO SIP protocol core: messages, URIs, headers, digest auth, SDP, transactions, dialogs.

Nothing in this package does I/O or reads a clock: state machines are fed bytes,
events and the current time, and hand back what to send, when to wake up and
what happened (see ../shared/DESIGN.md, "Rules of the house").
"""
