//! Schema evolution: diffs between schemas and migration rules (not yet implemented).
