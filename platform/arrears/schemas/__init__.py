"""marshmallow schemas shared by the APIs and (later) the imports."""
