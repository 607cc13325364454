"""Movies, theaters, screens with their seat layouts, showtimes and prices."""
