//! Black-box test helpers: start the real `strata-server` binary on a free port.
