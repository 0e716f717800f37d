"""A tolerant Server-Sent Events decoder, after the WHATWG HTML "event stream" rules.

It takes text as it arrives, in chunks of any size (a line may be cut anywhere, even between
the CR and LF of a CRLF), and returns the complete events. Lines may end in LF, CR or CRLF;
comments (lines starting with ':') are skipped; a field without a colon has an empty value;
one space after the colon is dropped; `data` lines join with newlines; an event is dispatched
at a blank line and only if it carried data; `id` persists across events, as the spec says.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerEvent:
    event: str
    data: str
    id: str | None = None


class SSEDecoder:
    def __init__(self) -> None:
        self._buffer = ""
        self._started = False
        # The previous chunk ended in CR: an LF at the start of this one belongs to it.
        self._after_cr = False
        self._event = ""
        self._data: list[str] = []
        self.last_event_id: str | None = None
        self.retry_ms: int | None = None

    def feed(self, text: str) -> list[ServerEvent]:
        """The events that `text`, appended to what came before, completes."""
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        if self._after_cr and text.startswith("\n"):
            text = text[1:]
        self._after_cr = False
        self._buffer += text
        events: list[ServerEvent] = []
        start = 0
        buffer = self._buffer
        length = len(buffer)
        while start < length:
            cr = buffer.find("\r", start)
            lf = buffer.find("\n", start)
            if cr == -1 and lf == -1:
                break
            end = lf if cr == -1 else cr if lf == -1 else min(cr, lf)
            line = buffer[start:end]
            if buffer[end] == "\r":
                if end + 1 < length:
                    start = end + 2 if buffer[end + 1] == "\n" else end + 1
                else:
                    start = end + 1
                    self._after_cr = True
            else:
                start = end + 1
            event = self._line(line)
            if event is not None:
                events.append(event)
        self._buffer = buffer[start:]
        return events

    def _line(self, line: str) -> ServerEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif field == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> ServerEvent | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return ServerEvent(event=event or "message", data="\n".join(data), id=self.last_event_id)
