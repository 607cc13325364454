"""Change feed: reads the showtimes' event streams and hands out batches."""

from seatserver.changefeed.events import Event, parse_offset
from seatserver.changefeed.reader import ChangeFeed, FeedSink

__all__ = ["ChangeFeed", "Event", "FeedSink", "parse_offset"]
