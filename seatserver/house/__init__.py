"""House seats and the box office: seats blocked off online sale, and sales at the counter."""
