//! Taperlog server.
