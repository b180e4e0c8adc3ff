"""Per-group order and gap detection (motia_django.realtime.sequence): early changes wait for their predecessors, a gap
that lasts means a resync, and a group starts from the sequence number of its first snapshot."""

from __future__ import annotations

import asyncio

from motia_django.realtime import sequence
from motia_django.realtime.sequence import Sequencer

K = ("chatMessage", "room")


def make() -> tuple[Sequencer, list[str], list[list[tuple[str, str]]]]:
    delivered: list[str] = []
    resyncs: list[list[tuple[str, str]]] = []
    return Sequencer(delivered.append, resyncs.append), delivered, resyncs


async def test_changes_wait_for_the_first_snapshot_then_go_out_in_order():
    seq, delivered, _ = make()
    seq.admit(K, 12, "c12")
    seq.admit(K, 11, "c11")
    assert delivered == []  # where the group stands is not known yet
    seq.start(K, 10)
    assert delivered == ["c11", "c12"]
    seq.admit(K, 11, "c11-again")  # old: delivered already
    assert delivered == ["c11", "c12"]


async def test_changes_in_the_snapshot_are_not_delivered_again():
    seq, delivered, _ = make()
    seq.admit(K, 4, "c4")
    seq.admit(K, 5, "c5")
    seq.start(K, 4)
    assert delivered == ["c5"]


async def test_an_early_change_waits_for_its_predecessor():
    seq, delivered, resyncs = make()
    seq.start(K, 1)
    seq.admit(K, 3, "c3")
    seq.admit(K, 2, "c2")
    assert delivered == ["c2", "c3"] and resyncs == []


async def test_a_lasting_gap_resyncs_the_group(monkeypatch):
    monkeypatch.setattr(sequence, "GAP_WAIT", 0.05)
    seq, delivered, resyncs = make()
    seq.start(K, 1)
    seq.admit(K, 3, "c3")  # 2 was lost
    await asyncio.sleep(0.1)
    assert delivered == [] and resyncs == [[K]]
    seq.admit(K, 2, "c2-late")  # covered by the resync's snapshots now
    seq.admit(K, 4, "c4")
    assert delivered == ["c4"]


async def test_forget_drops_waiting_changes_and_the_timer(monkeypatch):
    monkeypatch.setattr(sequence, "GAP_WAIT", 0.05)
    seq, _, resyncs = make()
    seq.start(K, 1)
    seq.admit(K, 5, "c5")
    seq.forget(K)
    await asyncio.sleep(0.1)
    assert resyncs == [] and K not in seq.last
