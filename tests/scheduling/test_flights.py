"""Single flight: one leader per content key, followers handed back when it lands, cancelled ones leave."""

from __future__ import annotations

from faber_ray.scheduling.flights import Flights


def test_followers_join_the_leader_and_are_handed_back_when_it_lands() -> None:
    flights = Flights()
    assert flights.leader_of("k") is None
    flights.lead("k", "a")
    assert flights.join("k", "b") == "a" and flights.join("k", "c") == "a"
    assert flights.joins == 2
    assert flights.land("k", "a") == ["b", "c"]
    assert flights.leader_of("k") is None


def test_a_cancelled_follower_leaves_and_a_promoted_one_leads_the_rest() -> None:
    flights = Flights()
    flights.lead("k", "a")
    for follower in ("b", "c", "d"):
        flights.join("k", follower)
    assert flights.land("k", "c") == []  # c was cancelled
    followers = flights.land("k", "a")
    assert followers == ["b", "d"]
    flights.lead("k", "b", followers[1:])  # a's run said nothing: b runs, d follows it
    assert flights.leader_of("k") == "b"
    assert flights.land("k", "b") == ["d"]


def test_keys_are_independent() -> None:
    flights = Flights()
    flights.lead("k1", "a")
    flights.lead("k2", "b")
    flights.join("k2", "c")
    assert flights.land("k1", "a") == [] and flights.land("k2", "b") == ["c"]
