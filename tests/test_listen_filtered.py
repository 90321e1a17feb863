"""tickwire listen says what it filtered: per line (source drops) and per reason (session refusals)."""
from __future__ import annotations

from feedhandlers.live import describe_filtered, filtered


class Src:
    def __init__(self, **c):
        self.c = c

    def counters(self):
        return {"rx_packets": 10, **self.c}


def test_nothing_filtered_says_nothing():
    f = filtered({"messages": 5}, [Src(), Src()])
    assert f["lines"] == {"A": {"not_the_feed": 0, "malformed_frames": 0, "kernel_drops": 0},
                          "B": {"not_the_feed": 0, "malformed_frames": 0, "kernel_drops": 0}}
    assert describe_filtered(f, "239.1.1.1:3000") == ""


def test_forged_packets_are_said():
    f = filtered({"suspect_session": 2, "impossible_count": 1}, [Src()])
    assert (f["suspect_session"], f["impossible_count"]) == (2, 1)
    assert describe_filtered(f) == ("2 packets of an unconfirmed new session name (mid-stream); "
                                    "1 packets with an impossible message count")


def test_every_reason_is_said():
    f = filtered({"wrong_session": 3, "implausible_seq": 1, "bad_packets": 2, "bad_messages": 4, "trailing_bytes": 0},
                 [Src(dropped_filter=12, kernel_drops=5), Src(dropped_bad=1)])
    assert (f["other_session"], f["suspect_sequence"], f["malformed_packets"], f["invalid_messages"]) == (3, 1, 2, 4)
    text = describe_filtered(f, "239.1.1.1:3000")
    assert text == ("line A: 12 frames not for 239.1.1.1:3000, 5 kernel drops; line B: 1 malformed frames; "
                    "3 packets of another session; 1 packets with an implausible sequence number; "
                    "2 short or truncated packets; 4 invalid messages (unknown type / wrong length)")
