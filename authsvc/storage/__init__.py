"""Where the data lives: the engine and session factory, the ORM tables, the migrations."""
