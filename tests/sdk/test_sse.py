"""The event-stream decoder, fed as a network would: in pieces cut anywhere."""

from failsafe_client._sse import ServerEvent, SSEDecoder


def decode(*chunks):
    decoder = SSEDecoder()
    return [event for chunk in chunks for event in decoder.feed(chunk)]


def test_it_decodes_an_event():
    assert decode('event: mode\nid: 3\ndata: {"mode": "off"}\n\n') == [
        ServerEvent(event="mode", data='{"mode": "off"}', id="3")
    ]


def test_it_joins_data_lines_with_newlines():
    assert decode("data: one\ndata:two\ndata\n\n")[0].data == "one\ntwo\n"


def test_it_drops_one_space_after_the_colon_only():
    assert decode("data:  two spaces\n\n")[0].data == " two spaces"


def test_it_names_an_event_without_a_type_message():
    assert decode("data: x\n\n")[0].event == "message"


def test_it_skips_comments():
    assert decode(": keep-alive\n:\ndata: x\n: in the middle\n\n") == [
        ServerEvent(event="message", data="x")
    ]


def test_it_dispatches_nothing_for_an_event_without_data():
    assert decode("event: mode\n\n", "data: x\n\n") == [ServerEvent(event="message", data="x")]


def test_it_ignores_unknown_fields():
    assert decode("foo: bar\ndata: x\n\n") == [ServerEvent(event="message", data="x")]


def test_the_last_id_carries_over_to_later_events():
    events = decode("id: 7\ndata: a\n\ndata: b\n\n")
    assert [e.id for e in events] == ["7", "7"]


def test_it_ignores_an_id_with_a_nul():
    events = decode("id: 1\ndata: a\n\nid: 2\0\ndata: b\n\n")
    assert [e.id for e in events] == ["1", "1"]


def test_it_reads_retry_only_when_it_is_a_number():
    decoder = SSEDecoder()
    decoder.feed("retry: 2500\n\nretry: soon\n\n")
    assert decoder.retry_ms == 2500


def test_it_accepts_lf_crlf_and_cr_line_endings():
    expected = [ServerEvent(event="mode", data="x")]
    assert decode("event: mode\ndata: x\n\n") == expected
    assert decode("event: mode\r\ndata: x\r\n\r\n") == expected
    assert decode("event: mode\rdata: x\r\r") == expected


def test_a_crlf_cut_between_cr_and_lf_is_one_line_end():
    assert decode("data: a\r", "\n", "\r", "\ndata: b\r\n\r\n") == [
        ServerEvent(event="message", data="a"),
        ServerEvent(event="message", data="b"),
    ]


def test_it_decodes_the_same_fed_one_character_at_a_time():
    stream = (
        '\ufeff: hello\r\nevent: mode\r\nid: 4\r\ndata: {"a":\r\ndata: 1}\r\n\r\n'
        "event: heartbeat\ndata: {}\n\nevent: mode\rdata: z\r\r"
    )
    assert decode(*stream) == decode(stream)
    assert [e.event for e in decode(stream)] == ["mode", "heartbeat", "mode"]
    assert decode(stream)[0].data == '{"a":\n1}'


def test_it_strips_a_byte_order_mark_at_the_start_only():
    assert decode("\ufeffdata: x\n\n")[0].data == "x"
    assert decode("data: x\n\n\ufeffdata: y\n\n") == [ServerEvent(event="message", data="x")]


def test_an_unfinished_event_waits_for_its_blank_line():
    decoder = SSEDecoder()
    assert decoder.feed("event: mode\ndata: x\n") == []
    assert decoder.feed("\n") == [ServerEvent(event="mode", data="x")]
