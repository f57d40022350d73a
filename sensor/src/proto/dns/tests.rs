//! Tests of the DNS dissector.
