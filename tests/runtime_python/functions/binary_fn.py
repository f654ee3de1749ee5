"""Binary-encoding function: reverses the raw bytes it receives."""


def handler(event, context):
    assert isinstance(event, bytes), type(event)
    return event[::-1]


def as_text(event, context):
    return u'h\u00e9llo'
