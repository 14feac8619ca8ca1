//! The C ABI (`include/airisk.h`). Only C-facing functions live here.
