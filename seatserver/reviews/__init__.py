"""Reviews and ratings of movies, by people who saw them."""
