"""Bags: whole shows recorded as MCAP files, played back, inspected and converted.

    read_messages(path, topics)       typed messages of a bag (unknown types as plain data)
    BagReader(path)                   the same, plus problems, channels, schemas, metadata
    bag_info(path)                    duration, per-topic counts and rates, sizes, problems
    Recorder(path, bus=url)           a hidden node recording the bus (async context manager)
    BagWriter(path)                   write messages into a bag directly
    Player(path, bus=url) / play()    republish a bag, with its timing or as fast as possible
    replay(path, bus_url, collect=)   play a bag into running nodes and collect what they say
    convert_to_json(path, out)        a JSON-encoded copy that Foxglove and Lichtblick open

The storage layout is described in ``bus/bag/README.md``.
"""

from bus.bag.convert import convert_to_json, flat_schema
from bus.bag.info import BagInfo, TopicInfo, bag_info
from bus.bag.player import Player, PlayResult, play
from bus.bag.reader import BagMessage, BagReader, bag_files, read_messages
from bus.bag.recorder import Recorder, TopicFilter, recording_metadata
from bus.bag.testing import Replay, replay
from bus.bag.writer import BagWriter

__all__ = [
    "BagInfo",
    "BagMessage",
    "BagReader",
    "BagWriter",
    "PlayResult",
    "Player",
    "Recorder",
    "Replay",
    "TopicFilter",
    "TopicInfo",
    "bag_files",
    "bag_info",
    "convert_to_json",
    "flat_schema",
    "play",
    "read_messages",
    "recording_metadata",
    "replay",
]
