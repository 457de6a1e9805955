"""Reading content from where it lives: files and folders now, scheduled refresh later."""
