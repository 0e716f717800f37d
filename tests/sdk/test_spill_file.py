"""The spill's segment files on their own: records come back in order, a sent segment is
deleted, a record bigger than the whole limit is dropped and counted, and a damaged record
ends its segment without stopping the next ones."""

from failsafe_client._spill import MIN_SEGMENT, Spill


def records(first, count, size=100):
    return [
        ("refunds", f"e-{n}", b'{"id":"e-%d","pad":"%s"}' % (n, b"x" * size))
        for n in range(first, first + count)
    ]


def drain(spill):
    out = []
    while spill.pending:
        batch = spill.peek(50)
        out.extend(event_id for _, event_id, _ in batch)
        spill.advance()
    return out


def test_records_come_back_in_order_across_segments_and_sent_segments_are_deleted(tmp_path):
    spill = Spill(tmp_path, 16 * MIN_SEGMENT)
    assert spill.append(records(0, 2000)) == 0

    assert len(list(tmp_path.glob("*.spill"))) > 1
    assert drain(spill) == [f"e-{n}" for n in range(2000)]
    assert not list(tmp_path.glob("*.spill"))


def test_a_record_larger_than_the_whole_limit_is_dropped_and_counted(tmp_path):
    spill = Spill(tmp_path, 2048)

    assert spill.append(records(0, 1, size=4096) + records(1, 1)) == 1

    assert drain(spill) == ["e-1"]


def test_a_damaged_record_ends_its_segment_and_the_next_segment_is_still_read(tmp_path):
    spill = Spill(tmp_path, 16 * MIN_SEGMENT)
    spill.append(records(0, 10))
    spill.close()
    first = max(tmp_path.glob("*.spill"))
    data = bytearray(first.read_bytes())
    data[-5] ^= 0xFF  # a flipped byte in the last record: its CRC no longer matches
    first.write_bytes(bytes(data))

    reopened = Spill(tmp_path, 16 * MIN_SEGMENT)
    reopened.append(records(10, 5))

    assert reopened.torn == 1
    assert drain(reopened) == [f"e-{n}" for n in range(15) if n != 9]
