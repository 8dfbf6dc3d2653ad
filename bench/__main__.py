"""`make bench`: every benchmark, one after the other (about fifteen minutes on two cores)."""

import asyncio

from bench import booking_throughput, evening, events, open_data, search, series

asyncio.run(booking_throughput.main(requests=6000, concurrency=32, spots=200, drivers=100, floor=True))
asyncio.run(series.main(rounds=100, concurrency=8))
asyncio.run(search.main(requests=1000, concurrency=8, reuse=False, show_plan=False))
asyncio.run(events.main(bookings=3000, rate=120, spots=200, drivers=100, streams=100))
asyncio.run(open_data.main(spots=5000, bookings=250_000, requests=300))
asyncio.run(evening.main(evening.parser().parse_args(["--steps", "6", "--seconds", "20"])))
