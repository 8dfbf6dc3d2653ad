"""Reviews of completed bookings: the driver's of the spot, the owner's of the driver."""
