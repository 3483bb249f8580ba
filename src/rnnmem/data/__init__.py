"""The corpus (text8, a user's file or the generated probe corpus) and the autocomplete dataset
built from it."""
