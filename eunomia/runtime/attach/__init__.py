"""One module per hook kind; each function attaches a BpfProgram and returns its Link.

BpfProgram.attach*() are the public entry points; they keep the Link so that closing
the object detaches it.
"""
