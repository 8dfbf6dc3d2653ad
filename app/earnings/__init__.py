"""What an owner's spots earned: per month or per spot and currency, summed in SQL from the
bookings themselves, so a statement agrees to the cent with the bookings it covers."""
