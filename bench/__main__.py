"""`make bench`: every benchmark, one after the other."""

import asyncio

from bench import booking_throughput

asyncio.run(booking_throughput.main(requests=3000, concurrency=64, spots=200, drivers=100))
