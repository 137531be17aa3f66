"""Master notebook → student release, and how strong the tests are."""
