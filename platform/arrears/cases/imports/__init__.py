"""Case intake from spreadsheets: reading real files, mapping columns, validating rows, writing."""
