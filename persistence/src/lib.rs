//! strata-persistence: RDB codec, AOF, snapshot orchestration and file-safety helpers (arrive with the RDB and AOF issues).
