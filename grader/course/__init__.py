"""Many attempts → grades in and out of the LMS: roster, collect, the course gradebook, policies, export."""
