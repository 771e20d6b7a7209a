"""click only: the group, the options, one thin function per command."""
